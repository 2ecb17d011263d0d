// What every proxied request shares: how headers go upstream and how
// upstream failures become 502/504 JSON errors.
import replyFrom from '@fastify/reply-from'
import { REQUEST_ID_HEADER } from '../plugins/request-id.js'
import { sendError } from '../plugins/errors.js'
import { queryWithout } from './query.js'
import { TOKEN_PARAM } from './tokens.js'

// Gateway credentials stay at the gateway; the request id travels on.
export function rewriteRequestHeaders (request, headers) {
  const { 'x-api-key': _key, authorization: _authorization, ...forwarded } = headers
  forwarded[REQUEST_ID_HEADER] = request.id
  return forwarded
}

// Connection management is per hop: the upstream's keep-alive terms are not
// the gateway's, so they are not copied to the caller.
export function rewriteResponseHeaders (headers) {
  const { connection: _connection, 'keep-alive': _keepAlive, ...forwarded } = headers
  return forwarded
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT'
])

function isTimeout (error) {
  return error.statusCode === 504 || TIMEOUT_CODES.has(error.code) || TIMEOUT_CODES.has(error.cause?.code)
}

// reply-from reports a refused connection as 500 and a timeout as 504; the
// gateway answers 504 for timeouts and 502 for anything else upstream.
export function onUpstreamError (reply, { error }) {
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy()
    return
  }
  if (isTimeout(error)) {
    reply.request.log.warn({ code: error.cause?.code ?? error.code }, 'upstream timed out')
    return sendError(reply, 504, 'upstream timed out')
  }
  reply.request.log.warn({ code: error.cause?.code ?? error.code }, 'upstream unavailable')
  return sendError(reply, 502, 'upstream unavailable')
}

// The caller's query string goes upstream as is, minus any SSE token: it is
// the gateway's credential, not the upstream's business (nor its logs').
export function forwardedQuery (_search, url) {
  return queryWithout(url, TOKEN_PARAM)
}

// Options for every reply.from() call. No retries: the caller sees exactly
// what the upstream answered (reply-from would otherwise retry GET on 503).
export const proxyOptions = Object.freeze({
  queryString: forwardedQuery,
  rewriteRequestHeaders,
  rewriteHeaders: rewriteResponseHeaders,
  onError: onUpstreamError,
  retryDelay: () => null
})

// Registers reply-from in the calling plugin's scope: its own connection pool to the
// upstream, with connecting and the response headers bounded by the upstream timeout.
// `bodyTimeoutMs` 0 leaves a body (an SSE stream) unbounded once it has started.
export async function registerUpstream (fastify, { bodyTimeoutMs }) {
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
