// @ts-check
// POST /admin/tokens (API key required): a short-lived token for a browser
// EventSource to open /admin/events with (see plugins/event-tokens.js).

/** @type {import('fastify').FastifyPluginAsync} */
export default async function tokenRoutes (fastify) {
  fastify.post('/admin/tokens', async function mintToken (request, reply) {
    const { token, expiresIn } = this.eventTokens.issue()
    request.log.info({ expires_in: expiresIn }, 'event token issued')
    reply.header('cache-control', 'no-store')
    return { token, expires_in: expiresIn }
  })
}
