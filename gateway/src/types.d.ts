// What the gateway's plugins add to Fastify's types (plugins/config.js,
// plugins/event-tokens.js, plugins/upstream-health.js, plugins/auth.js,
// plugins/upstream.js) and the per-route auth mode read by plugins/auth.js.
import type { Config } from './config.js'
import type { Caller } from './lib/api-keys.js'
import type { UpstreamPool } from './lib/upstream-pool.js'
import type { EventTokens } from './lib/tokens.js'
import type { Forward } from './plugins/upstream.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    eventTokens: EventTokens
    upstreams: UpstreamPool
  }
  interface FastifyRequest {
    caller: Caller | undefined
  }
  interface FastifyReply {
    forward: Forward
  }
  interface FastifyContextConfig {
    auth?: 'public' | 'key' | 'key-or-token' | 'admin'
  }
}
