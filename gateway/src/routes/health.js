// @ts-check
// The gateway's own probes, public and answered without calling an upstream.
// /healthz is liveness: the process answers. /readyz is readiness: at least
// one upstream passed its last /readyz check (plugins/upstream-health.js); it
// gives counts only, since the upstreams' addresses never reach a caller.

/** @type {import('fastify').FastifyPluginAsync} */
export default async function healthRoutes (fastify) {
  fastify.get('/healthz', { config: { auth: 'public' } }, async function healthz () {
    return { status: 'ok' }
  })

  fastify.get('/readyz', { config: { auth: 'public' } }, async function readyz (request, reply) {
    const upstreams = this.upstreams.counts()
    const ready = upstreams.healthy > 0
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not ready', upstreams }
  })
}
