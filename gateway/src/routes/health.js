// @ts-check
// The gateway's own liveness probe: public, and never calls the upstream.

/** @type {import('fastify').FastifyPluginAsync} */
export default async function healthRoutes (fastify) {
  fastify.get('/healthz', { config: { auth: 'public' } }, async function healthz () {
    return { status: 'ok' }
  })
}
