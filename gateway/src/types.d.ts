// What the gateway's plugins add to Fastify's types (plugins/config.js,
// plugins/event-tokens.js) and the per-route auth mode read by plugins/auth.js.
import type { Config } from './config.js'
import type { EventTokens } from './lib/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    eventTokens: EventTokens
  }
  interface FastifyContextConfig {
    auth?: 'public' | 'key' | 'key-or-token'
  }
}
