// @ts-check
// What every proxied request shares: which headers cross in each direction,
// which query string goes upstream, and how upstream failures become 502/504.
import { sendError } from './errors.js'
import { createPublicHeaders } from './public-headers.js'
import { queryWithout } from './query.js'
import { REQUEST_ID_HEADER } from './request-id.js'
import { TOKEN_PARAM } from './tokens.js'

/** @typedef {import('@fastify/reply-from').FastifyReplyFromHooks} ProxyOptions */
/** @typedef {import('node:http').IncomingHttpHeaders} Headers */
// reply-from's callbacks are typed for any server (HTTP/1 or HTTP/2).
/** @typedef {Parameters<NonNullable<ProxyOptions['onError']>>[0]} ProxyReply */
/** @typedef {Parameters<NonNullable<ProxyOptions['rewriteRequestHeaders']>>[0]} ProxyRequest */

/** @typedef {(request: ProxyRequest) => Headers} RequestHeaders */

export const ACTOR_HEADER = 'x-regwatch-actor'

/**
 * Gateway credentials stay at the gateway, and a caller cannot speak for the
 * gateway to the API (`Authorization` and `X-Regwatch-Actor` are the
 * gateway's to set, see routes/release.js); the request id travels on.
 * @param {ProxyRequest} request
 * @param {Headers} headers
 * @returns {Headers}
 */
function withoutCredentials (request, headers) {
  const { 'x-api-key': _key, authorization: _authorization, [ACTOR_HEADER]: _actor, ...forwarded } = headers
  forwarded[REQUEST_ID_HEADER] = request.id
  return forwarded
}

/**
 * Connection management is per hop: the upstream's keep-alive terms are not
 * the gateway's, so they are not copied to the caller.
 * @param {Headers} headers
 * @returns {Headers}
 */
function withoutHopByHop (headers) {
  const { connection: _connection, 'keep-alive': _keepAlive, ...forwarded } = headers
  return forwarded
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT'
])

/**
 * reply-from wraps undici's error (in `cause`) in one of its own (with a status).
 * @param {Error} error
 */
export function describe (error) {
  const { statusCode, code } = /** @type {{ statusCode?: number, code?: string }} */ (error)
  const causeCode = /** @type {{ code?: string } | undefined} */ (error.cause)?.code
  return {
    code: causeCode ?? code,
    timedOut: statusCode === 504 || TIMEOUT_CODES.has(code ?? '') || TIMEOUT_CODES.has(causeCode ?? '')
  }
}

/**
 * reply-from reports a refused connection as 500 and a timeout as 504; the
 * gateway answers 504 for timeouts and 502 for anything else upstream.
 * @param {ProxyReply} reply
 * @param {{ error: Error }} failure
 */
export function onUpstreamError (reply, { error }) {
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy()
    return
  }
  const { code, timedOut } = describe(error)
  if (timedOut) {
    reply.request.log.warn({ code }, 'upstream timed out')
    sendError(reply, 504, 'upstream timed out')
    return
  }
  reply.request.log.warn({ code }, 'upstream unavailable')
  sendError(reply, 502, 'upstream unavailable')
}

/**
 * The caller's query string goes upstream as is, minus any SSE token: it is
 * the gateway's credential, not the upstream's business (nor its logs').
 * @param {string | undefined} _search
 * @param {string} url
 */
function forwardedQuery (_search, url) {
  return queryWithout(url, TOKEN_PARAM)
}

/**
 * Options for every reply.from() call to the upstreams: `responseHeaders` are
 * added to every response, `requestHeaders(request)` to every request. No
 * retries here: the caller sees exactly what the upstream answered
 * (reply-from would otherwise retry GET on 503); the one retry the gateway
 * makes, on another upstream, is plugins/upstream.js's.
 * @param {{ upstreamUrls: readonly string[], responseHeaders?: Headers, requestHeaders?: RequestHeaders }} options
 * @returns {Readonly<ProxyOptions>}
 */
export function createProxyOptions ({ upstreamUrls, responseHeaders = {}, requestHeaders }) {
  const publicHeaders = createPublicHeaders(upstreamUrls)
  /** @type {ProxyOptions} */
  const options = {
    queryString: forwardedQuery,
    rewriteRequestHeaders: requestHeaders === undefined
      ? withoutCredentials
      : (request, headers) => ({ ...withoutCredentials(request, headers), ...requestHeaders(request) }),
    rewriteHeaders: (headers, request) => ({ ...publicHeaders(withoutHopByHop(headers), request?.log), ...responseHeaders }),
    retryDelay: () => null
  }
  return Object.freeze(options)
}

/**
 * reply.from() options that forward the caller's body byte for byte, with its
 * content type. An empty body is passed too: left to reply-from, a parsed
 * body with a JSON content type would be re-encoded (an empty Buffer as
 * `{"type":"Buffer","data":[]}`). No body was parsed (none sent): none.
 * @param {import('fastify').FastifyRequest} request
 * @returns {{ body?: Buffer, contentType?: string }}
 */
export function forwardedBody (request) {
  const body = request.body
  return Buffer.isBuffer(body)
    ? { body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
    : {}
}
