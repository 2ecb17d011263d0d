// @ts-check
// GET /admin/events: the upstream SSE stream, piped through as it arrives.
// Each stream goes to one upstream, picked like any request (round-robin over
// the healthy ones). It has its own reply-from pool without a body timeout
// (the stream is long-lived), but connecting and waiting for the response
// headers is still bounded, so a down upstream fails fast with 502 and a mute
// one with 504. Closing the client connection destroys the upstream response,
// which closes the upstream connection.
import { modelQuery } from '../lib/model-name.js'
import { EVENTS } from '../lib/mounts.js'
import upstreamPlugin from '../plugins/upstream.js'

/** @type {import('fastify').FastifyPluginAsync} */
export default async function eventRoutes (fastify) {
  await fastify.register(upstreamPlugin, {
    bodyTimeoutMs: 0,
    // Ask reverse proxies in front of the gateway not to buffer the stream.
    responseHeaders: { 'x-accel-buffering': 'no' }
  })

  // Open streams never end by themselves: cut them when the gateway shuts
  // down so that close() does not wait for them (EventSource reconnects).
  /** @type {Set<import('node:http').ServerResponse>} */
  const openStreams = new Set()
  fastify.addHook('preClose', async () => {
    for (const raw of openStreams) raw.destroy()
  })

  // Last-Event-ID (header), last_event_id and model (query) pass through; the
  // token does not (see forwardedQuery in lib/upstream.js).
  fastify.get(EVENTS.gateway, { config: { auth: 'key-or-token' }, ...modelQuery() }, function events (request, reply) {
    openStreams.add(reply.raw)
    reply.raw.once('close', () => openStreams.delete(reply.raw))
    return reply.forward(EVENTS.upstream)
  })
}
