// Bounded shutdown. close() stops accepting, closes idle keep-alive sockets
// and waits for in-flight requests; after SHUTDOWN_GRACE_MS whatever is still
// open (a slow request, a socket that never sent one) is cut, so a stop never
// hangs. Open SSE streams are cut right away by the events routes.
import fp from 'fastify-plugin'

export default fp(async function shutdownPlugin (fastify) {
  let deadline
  fastify.addHook('preClose', async function armDeadline () {
    deadline = setTimeout(() => fastify.server.closeAllConnections(), fastify.config.shutdownGraceMs)
    deadline.unref()
  })
  fastify.addHook('onClose', async function disarmDeadline () {
    clearTimeout(deadline)
  })
}, { name: 'regwatch-shutdown', dependencies: ['regwatch-config'] })
