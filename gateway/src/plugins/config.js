// @ts-check
// Exposes the validated configuration to every plugin as `fastify.config`.
import fp from 'fastify-plugin'

/** @type {import('fastify').FastifyPluginAsync<{ config: import('../config.js').Config }>} */
async function configPlugin (fastify, { config }) {
  fastify.decorate('config', config)
}

export default fp(configPlugin, { name: 'regwatch-config', fastify: '5.x' })
