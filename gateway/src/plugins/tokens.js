// SSE tokens: `POST /admin/tokens` (key-authenticated) mints a short-lived
// HMAC token; `fastify.eventTokens.verify` is what the auth plugin checks.
// The HMAC key is TOKEN_SECRET when set (needed when several gateway replicas
// must accept each other's tokens), otherwise random for this process.
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { issueToken, verifyToken } from '../lib/tokens.js'

export default fp(async function tokensPlugin (fastify) {
  const { tokenSecret, tokenTtlS } = fastify.config
  const secret = tokenSecret ?? randomBytes(32)

  fastify.decorate('eventTokens', Object.freeze({
    issue: () => issueToken({ secret, ttlS: tokenTtlS }),
    verify: (token) => verifyToken(token, { secret })
  }))

  fastify.post('/admin/tokens', async function mintToken (request, reply) {
    const { token, expiresIn } = this.eventTokens.issue()
    request.log.info({ expires_in: expiresIn }, 'event token issued')
    reply.header('cache-control', 'no-store')
    return { token, expires_in: expiresIn }
  })
}, { name: 'regwatch-tokens', dependencies: ['regwatch-config'] })
