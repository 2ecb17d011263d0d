// Request ids: keep a sane incoming X-Request-Id, otherwise make a UUID.
// Fastify's own `requestIdHeader` would trust any header value, so the gateway
// passes `requestIdHeader: false` and reads the header itself in genReqId.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'

export const REQUEST_ID_HEADER = 'x-request-id'
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function genReqId (rawRequest) {
  const incoming = rawRequest.headers[REQUEST_ID_HEADER]
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

// Echo the id on every response, errors included. onSend also overrides any
// id copied from the upstream's response headers.
export default fp(async function requestIdPlugin (fastify) {
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
  fastify.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
}, { name: 'regwatch-request-id' })
