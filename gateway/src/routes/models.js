// @ts-check
// Request/response routes: POST /predict and the read-only model admin API.
// Bodies are forwarded byte for byte (see the raw body parser in app.js), so
// the upstream does all validation and its status and JSON come back as is.
// `?model=NAME` picks a model: checked here (lib/model-name.js), passed on.
import { modelQuery } from '../lib/model-name.js'
import { MODELS, PREDICT } from '../lib/mounts.js'
import { forwardedBody } from '../lib/upstream.js'
import upstreamPlugin from '../plugins/upstream.js'

/** @type {import('fastify').FastifyPluginAsync} */
export default async function modelRoutes (fastify) {
  // Scoped to this plugin: its own connection pool, the whole response bounded.
  await fastify.register(upstreamPlugin, { bodyTimeoutMs: fastify.config.upstreamTimeoutMs })

  // A prediction changes nothing upstream: safe to send again on a refused connection.
  fastify.post(PREDICT.gateway, modelQuery(), function predict (request, reply) {
    return reply.forward(PREDICT.upstream, { idempotent: true, ...forwardedBody(request) })
  })

  fastify.get(MODELS.gateway, modelQuery(), function listModels (request, reply) {
    return reply.forward(MODELS.upstream)
  })

  fastify.get(`${MODELS.gateway}/latest`, modelQuery(), function latestModel (request, reply) {
    return reply.forward(`${MODELS.upstream}/latest`)
  })

  fastify.get(`${MODELS.gateway}/:version`, modelQuery(), function getModel (request, reply) {
    const { version } = /** @type {{ version: string }} */ (request.params)
    return reply.forward(`${MODELS.upstream}/${encodeURIComponent(version)}`)
  })
}
