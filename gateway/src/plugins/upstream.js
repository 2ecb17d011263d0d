// @ts-check
// `reply.from()` in the registering plugin's scope: each route plugin gets its
// own connection pool to the upstream, with connecting and the response
// headers bounded by UPSTREAM_TIMEOUT_MS. `bodyTimeoutMs` bounds silence inside
// a response body; 0 leaves a body (an SSE stream) unbounded once it started.
import replyFrom from '@fastify/reply-from'
import fp from 'fastify-plugin'

/** @type {import('fastify').FastifyPluginAsync<{ bodyTimeoutMs: number }>} */
async function upstreamPlugin (fastify, { bodyTimeoutMs }) {
  const { upstreamUrl, upstreamTimeoutMs } = fastify.config
  await fastify.register(replyFrom, {
    base: upstreamUrl,
    undici: {
      connectTimeout: upstreamTimeoutMs,
      headersTimeout: upstreamTimeoutMs,
      bodyTimeout: bodyTimeoutMs
    }
  })
}

export default fp(upstreamPlugin, { name: 'regwatch-upstream', fastify: '5.x', dependencies: ['regwatch-config'] })
