// @ts-check
// The Open Inference Protocol (KServe V2) REST surface, `/v2/…`, behind the
// same API keys as every other route: GETs (health, metadata, readiness) and
// POSTs (infer, repository index) go to the same path upstream, bodies byte
// for byte, so the upstream validates and its status and JSON come back as is.
import { sendError } from '../lib/errors.js'
import { V2 } from '../lib/mounts.js'
import { createProxyOptions, forwardedBody } from '../lib/upstream.js'
import upstreamPlugin from '../plugins/upstream.js'

/**
 * The upstream path for the decoded wildcard `rest`, each segment encoded
 * again; undefined for a dot segment, which a URL parser would resolve out
 * of the /v2 mount.
 * @param {string} rest
 * @returns {string | undefined}
 */
export function upstreamV2Path (rest) {
  const segments = rest.split('/')
  if (segments.some((segment) => segment === '.' || segment === '..')) return undefined
  return `${V2.upstream}/${segments.map(encodeURIComponent).join('/')}`
}

/** @type {import('fastify').FastifyPluginAsync} */
export default async function v2Routes (fastify) {
  await fastify.register(upstreamPlugin, { bodyTimeoutMs: fastify.config.upstreamTimeoutMs })
  const proxyOptions = createProxyOptions({ upstreamUrl: fastify.config.upstreamUrl })

  fastify.get(V2.gateway, function serverMetadata (request, reply) {
    return reply.from(V2.upstream, proxyOptions)
  })

  fastify.route({
    method: ['GET', 'POST'],
    url: `${V2.gateway}/*`,
    handler: function v2 (request, reply) {
      const { '*': rest } = /** @type {{ '*': string }} */ (request.params)
      const path = upstreamV2Path(rest)
      if (path === undefined) return sendError(reply, 404, 'not found')
      return reply.from(path, { ...proxyOptions, ...forwardedBody(request) })
    }
  })
}
