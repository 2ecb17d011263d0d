// @ts-check
// `fastify.eventTokens`: what POST /admin/tokens issues and the auth plugin
// checks (lib/tokens.js). The HMAC key is TOKEN_SECRET when set (needed when
// several gateway replicas must accept each other's tokens), otherwise random
// for this process.
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { createEventTokens } from '../lib/tokens.js'

/** @type {import('fastify').FastifyPluginAsync} */
async function eventTokensPlugin (fastify) {
  const { tokenSecret, tokenTtlS } = fastify.config
  fastify.decorate('eventTokens', createEventTokens({ secret: tokenSecret ?? randomBytes(32), ttlS: tokenTtlS }))
}

export default fp(eventTokensPlugin, { name: 'regwatch-event-tokens', fastify: '5.x', dependencies: ['regwatch-config'] })
