// @ts-check
// The Open Inference Protocol (KServe V2) REST surface, `/v2/…`, behind the
// same API keys as every other route: GETs (health, metadata, readiness) and
// POSTs (infer, repository index) go to the same path upstream, bodies byte
// for byte, so the upstream validates and its status and JSON come back as is.
import { sendError } from '../lib/errors.js'
import { upstreamSubpath, V2 } from '../lib/mounts.js'
import { forwardedBody } from '../lib/upstream.js'
import upstreamPlugin from '../plugins/upstream.js'

// `models/{name}[/versions/{v}]/infer`: a prediction, safe to send again.
const INFER = /^models\/[^/]+(?:\/versions\/[^/]+)?\/infer$/

/** @type {import('fastify').FastifyPluginAsync} */
export default async function v2Routes (fastify) {
  await fastify.register(upstreamPlugin, { bodyTimeoutMs: fastify.config.upstreamTimeoutMs })

  fastify.get(V2.gateway, function serverMetadata (request, reply) {
    return reply.forward(V2.upstream)
  })

  fastify.route({
    method: ['GET', 'POST'],
    url: `${V2.gateway}/*`,
    handler: function v2 (request, reply) {
      const { '*': rest } = /** @type {{ '*': string }} */ (request.params)
      const path = upstreamSubpath(V2, rest)
      if (path === undefined) return sendError(reply, 404, 'not found')
      return reply.forward(path, { idempotent: INFER.test(rest), ...forwardedBody(request) })
    }
  })
}
