// @ts-check
// Bounded shutdown. close() stops accepting, closes idle keep-alive sockets
// and waits for in-flight requests; after SHUTDOWN_GRACE_MS whatever is still
// open (a slow request, a socket that never sent one) is cut, so a stop never
// hangs. Open SSE streams are cut right away by the events routes.
import fp from 'fastify-plugin'

/** @type {import('fastify').FastifyPluginAsync} */
async function shutdownPlugin (fastify) {
  /** @type {NodeJS.Timeout | undefined} */
  let deadline
  fastify.addHook('preClose', async function armDeadline () {
    deadline = setTimeout(() => fastify.server.closeAllConnections(), fastify.config.shutdownGraceMs)
    deadline.unref()
  })
  fastify.addHook('onClose', async function disarmDeadline () {
    clearTimeout(deadline)
  })
}

export default fp(shutdownPlugin, { name: 'regwatch-shutdown', fastify: '5.x', dependencies: ['regwatch-config'] })
