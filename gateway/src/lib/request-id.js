// @ts-check
// Request ids: keep a sane incoming X-Request-Id, otherwise make a UUID.
// Fastify's own `requestIdHeader` would trust any header value, so the gateway
// passes `requestIdHeader: false` and reads the header itself in genReqId.
import { randomUUID } from 'node:crypto'

export const REQUEST_ID_HEADER = 'x-request-id'
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Fastify's `genReqId`: the caller's id when it is safe to echo and log.
 * @param {{ headers: import('node:http').IncomingHttpHeaders }} rawRequest
 * @returns {string}
 */
export function genReqId (rawRequest) {
  const incoming = rawRequest.headers[REQUEST_ID_HEADER]
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
}
