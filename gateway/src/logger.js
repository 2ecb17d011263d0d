// @ts-check
// pino options for the gateway: credentials never reach a log line.
// Headers are redacted by path, and the request URL is logged with the SSE
// `token` query parameter masked (pino's redact cannot reach inside a string).
import { maskQueryParam } from './lib/query.js'
import { TOKEN_PARAM } from './lib/tokens.js'

const REDACTED_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.query.token',
  'headers["x-api-key"]',
  'headers.authorization'
]

/** @typedef {{ write: (line: string) => void }} LogStream */

/** @param {import('fastify').FastifyRequest} request */
function serializeRequest (request) {
  return {
    method: request.method,
    url: maskQueryParam(request.url, TOKEN_PARAM),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

/**
 * @param {{ level: string, stream?: LogStream }} options
 */
export function loggerOptions ({ level, stream }) {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest }
  }
}
