// @ts-check
// Echo the request id (see lib/request-id.js) on every response, errors
// included. onSend also overrides any id copied from the upstream's headers.
import fp from 'fastify-plugin'
import { REQUEST_ID_HEADER } from '../lib/request-id.js'

/** @type {import('fastify').FastifyPluginAsync} */
async function requestIdPlugin (fastify) {
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
  fastify.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
}

export default fp(requestIdPlugin, { name: 'regwatch-request-id', fastify: '5.x' })
