// GET /admin/events: the upstream SSE stream, piped through as it arrives.
// It has its own reply-from pool without a body timeout (the stream is
// long-lived), but connecting and waiting for the response headers is still
// bounded, so a down upstream fails fast with 502 and a mute one with 504.
// Closing the client connection destroys the upstream response, which closes
// the upstream connection.
import { proxyOptions, registerUpstream, rewriteResponseHeaders } from '../lib/upstream.js'

export default async function eventRoutes (fastify) {
  await registerUpstream(fastify, { bodyTimeoutMs: 0 })

  // Open streams never end by themselves: cut them when the gateway shuts
  // down so that close() does not wait for them (EventSource reconnects).
  const openStreams = new Set()
  fastify.addHook('preClose', async () => {
    for (const raw of openStreams) raw.destroy()
  })

  fastify.get('/admin/events', { config: { auth: 'key-or-token' } }, function events (request, reply) {
    openStreams.add(reply.raw)
    reply.raw.once('close', () => openStreams.delete(reply.raw))

    // Last-Event-ID (header) and last_event_id (query) pass through; the
    // token does not (see forwardedQuery).
    return reply.from('/events', {
      ...proxyOptions,
      // Ask reverse proxies in front of the gateway not to buffer the stream.
      rewriteHeaders: (headers) => ({ ...rewriteResponseHeaders(headers), 'x-accel-buffering': 'no' })
    })
  })
}
