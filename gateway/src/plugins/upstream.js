// @ts-check
// `reply.forward()` in the registering plugin's scope: reply-from with the
// route plugin's own connection pool, to the upstream `fastify.upstreams`
// picks (round-robin over the healthy ones), with connecting and the response
// headers bounded by UPSTREAM_TIMEOUT_MS. `bodyTimeoutMs` bounds silence inside
// a response body; 0 leaves a body (an SSE stream) unbounded once it started.
//
// A refused connection means the upstream never saw the request: it marks
// that upstream unhealthy (until its next good /readyz), and an idempotent
// request is sent once more, to another upstream. Anything else (a reset, a
// timeout) may have reached the upstream, so it is never retried.
import replyFrom from '@fastify/reply-from'
import fp from 'fastify-plugin'
import { createProxyOptions, describe, onUpstreamError } from '../lib/upstream.js'

/**
 * @typedef {{ idempotent?: boolean, body?: Buffer, contentType?: string }} ForwardOptions
 *   `idempotent`: safe to send again although its method is not GET or HEAD
 *   (the pure prediction routes).
 * @typedef {(this: import('fastify').FastifyReply, source: string, options?: ForwardOptions) => import('fastify').FastifyReply} Forward
 * @typedef {{ bodyTimeoutMs: number, responseHeaders?: import('../lib/upstream.js').Headers,
 *   requestHeaders?: import('../lib/upstream.js').RequestHeaders }} UpstreamOptions
 */

const SAFE_METHODS = new Set(['GET', 'HEAD'])

/** @type {import('fastify').FastifyPluginAsync<UpstreamOptions>} */
async function upstreamPlugin (fastify, { bodyTimeoutMs, responseHeaders, requestHeaders }) {
  const { upstreamUrls, upstreamTimeoutMs } = fastify.config
  const pool = fastify.upstreams
  await fastify.register(replyFrom, {
    undici: {
      connectTimeout: upstreamTimeoutMs,
      headersTimeout: upstreamTimeoutMs,
      bodyTimeout: bodyTimeoutMs,
      // reply-from turns certificate checks off unless told otherwise: an
      // https upstream must prove who it is (a private CA: NODE_EXTRA_CA_CERTS).
      connect: { rejectUnauthorized: true }
    }
  })
  const proxyOptions = createProxyOptions({ upstreamUrls, responseHeaders, requestHeaders })

  /** @type {Forward} */
  function forward (source, { idempotent = false, ...body } = {}) {
    const retryable = idempotent || SAFE_METHODS.has(this.request.method)
    /** @type {string[]} */
    const tried = []
    /** @param {string} origin */
    const send = (origin) => {
      tried.push(origin)
      return this.from(source, {
        ...proxyOptions,
        ...body,
        getUpstream: () => origin,
        onError: (reply, failure) => {
          if (describe(failure.error).code !== 'ECONNREFUSED') return onUpstreamError(reply, failure)
          pool.report(origin, false, 'connection refused')
          const next = retryable && tried.length === 1 ? pool.pick(tried) : undefined
          if (next === undefined) return onUpstreamError(reply, failure)
          reply.request.log.info({ upstream: next }, 'connection refused: retrying on another upstream')
          send(next)
        }
      })
    }
    // With nothing excluded, pick() always has an upstream (config has one at least).
    return send(/** @type {string} */ (pool.pick()))
  }
  fastify.decorateReply('forward', forward)
}

export default fp(upstreamPlugin, {
  name: 'regwatch-upstream',
  fastify: '5.x',
  dependencies: ['regwatch-config', 'regwatch-upstream-health']
})
