// @ts-check
// Request/response routes: POST /predict and the read-only model admin API.
// Bodies are forwarded byte for byte (see the raw body parser in app.js), so
// the upstream does all validation and its status and JSON come back as is.
import { MODELS, PREDICT } from '../lib/mounts.js'
import { createProxyOptions, forwardedBody } from '../lib/upstream.js'
import upstreamPlugin from '../plugins/upstream.js'

/** @type {import('fastify').FastifyPluginAsync} */
export default async function modelRoutes (fastify) {
  // Scoped to this plugin: its own connection pool, the whole response bounded.
  await fastify.register(upstreamPlugin, { bodyTimeoutMs: fastify.config.upstreamTimeoutMs })
  const proxyOptions = createProxyOptions({ upstreamUrl: fastify.config.upstreamUrl })

  fastify.post(PREDICT.gateway, function predict (request, reply) {
    return reply.from(PREDICT.upstream, { ...proxyOptions, ...forwardedBody(request) })
  })

  fastify.get(MODELS.gateway, function listModels (request, reply) {
    return reply.from(MODELS.upstream, proxyOptions)
  })

  fastify.get(`${MODELS.gateway}/latest`, function latestModel (request, reply) {
    return reply.from(`${MODELS.upstream}/latest`, proxyOptions)
  })

  fastify.get(`${MODELS.gateway}/:version`, function getModel (request, reply) {
    const { version } = /** @type {{ version: string }} */ (request.params)
    return reply.from(`${MODELS.upstream}/${encodeURIComponent(version)}`, proxyOptions)
  })
}
