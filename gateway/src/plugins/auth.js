// @ts-check
// Authentication for every route. A route chooses its mode in its config:
//   config: { auth: 'public' }        no credentials (the gateway's /healthz, /readyz)
//   config: { auth: 'key-or-token' }  API key, or `?token=` from POST /admin/tokens
//   config: { auth: 'admin' }         a key of ADMIN_API_KEYS (another valid key: 403)
//   (default)                         API key, via `x-api-key` or `Authorization: Bearer`
// Unknown paths use the default, so an unauthenticated caller gets 401, not 404.
// `request.caller` is who the key belongs to (its id, whether it is an admin key).
import fp from 'fastify-plugin'
import { createKeyMatcher, presentedKey } from '../lib/api-keys.js'
import { sendError } from '../lib/errors.js'
import { TOKEN_PARAM } from '../lib/tokens.js'

/** @type {import('fastify').FastifyPluginAsync} */
async function authPlugin (fastify) {
  const { apiKeys, adminApiKeys } = fastify.config
  const matchKey = createKeyMatcher(apiKeys, adminApiKeys)
  fastify.decorateRequest('caller', undefined)

  fastify.addHook('onRequest', async function authenticate (request, reply) {
    const mode = request.routeOptions.config?.auth ?? 'key'
    if (mode === 'public') return

    const key = presentedKey(request.headers)
    const caller = key === undefined ? undefined : matchKey(key)
    if (caller !== undefined) {
      request.caller = caller
      if (mode !== 'admin' || caller.admin) return
      request.log.info({ actor: caller.id }, 'rejected: not an admin key')
      return sendError(reply, 403, 'an admin key is required for the release routes')
    }

    const token = /** @type {Record<string, unknown> | undefined} */ (request.query)?.[TOKEN_PARAM]
    if (mode === 'key-or-token' && token !== undefined) {
      if (this.eventTokens.verify(token)) return
      request.log.info('rejected: invalid or expired token')
      return sendError(reply, 401, 'invalid or expired token')
    }

    request.log.info(key === undefined ? 'rejected: no API key' : 'rejected: wrong API key')
    return sendError(reply, 401, key === undefined ? 'missing API key' : 'invalid API key')
  })
}

export default fp(authPlugin, {
  name: 'regwatch-auth',
  fastify: '5.x',
  dependencies: ['regwatch-config', 'regwatch-event-tokens']
})
