// Authentication for every route. A route chooses its mode in its config:
//   config: { auth: 'public' }        no credentials (the gateway's /healthz)
//   config: { auth: 'key-or-token' }  API key, or `?token=` from POST /admin/tokens
//   (default)                         API key, via `x-api-key` or `Authorization: Bearer`
// Unknown paths use the default, so an unauthenticated caller gets 401, not 404.
import fp from 'fastify-plugin'
import { createKeyMatcher } from '../lib/api-keys.js'
import { TOKEN_PARAM } from '../lib/tokens.js'
import { sendError } from './errors.js'

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

export function presentedKey (headers) {
  const headerKey = headers['x-api-key']
  if (typeof headerKey === 'string' && headerKey !== '') return headerKey
  const match = BEARER.exec(headers.authorization ?? '')
  return match ? match[1] : undefined
}

export default fp(async function authPlugin (fastify) {
  const keyMatches = createKeyMatcher(fastify.config.apiKeys)

  fastify.addHook('onRequest', async function authenticate (request, reply) {
    const mode = request.routeOptions.config?.auth ?? 'key'
    if (mode === 'public') return

    const key = presentedKey(request.headers)
    if (key !== undefined && keyMatches(key)) return

    const token = request.query?.[TOKEN_PARAM]
    if (mode === 'key-or-token' && token !== undefined) {
      if (this.eventTokens.verify(token)) return
      request.log.info('rejected: invalid or expired token')
      return sendError(reply, 401, 'invalid or expired token')
    }

    request.log.info(key === undefined ? 'rejected: no API key' : 'rejected: wrong API key')
    return sendError(reply, 401, key === undefined ? 'missing API key' : 'invalid API key')
  })
}, { name: 'regwatch-auth', dependencies: ['regwatch-config', 'regwatch-tokens'] })
