// Request/response routes: POST /predict and the read-only model admin API.
// Bodies are forwarded byte for byte (see the raw body parser in app.js), so
// the upstream does all validation and its status and JSON come back as is.
import { proxyOptions, registerUpstream } from '../lib/upstream.js'

export default async function modelRoutes (fastify) {
  // Scoped to this plugin: its own connection pool, the whole response bounded.
  await registerUpstream(fastify, { bodyTimeoutMs: fastify.config.upstreamTimeoutMs })

  fastify.post('/predict', function predict (request, reply) {
    const body = request.body
    const withBody = Buffer.isBuffer(body) && body.length > 0
      ? { body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
      : {}
    return reply.from('/predict', { ...proxyOptions, ...withBody })
  })

  fastify.get('/admin/models', function listModels (request, reply) {
    return reply.from('/models', proxyOptions)
  })

  fastify.get('/admin/models/latest', function latestModel (request, reply) {
    return reply.from('/models/latest', proxyOptions)
  })

  fastify.get('/admin/models/:version', function getModel (request, reply) {
    return reply.from(`/models/${encodeURIComponent(request.params.version)}`, proxyOptions)
  })
}
