// Exposes the validated configuration to every plugin as `fastify.config`.
import fp from 'fastify-plugin'

export default fp(async function configPlugin (fastify, { config }) {
  fastify.decorate('config', config)
}, { name: 'regwatch-config' })
