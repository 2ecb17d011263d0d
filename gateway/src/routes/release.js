// @ts-check
// /admin/release and /admin/release/* -> the API's /release routes (state,
// history, promote, rollback, canary, shadow, aliases), for admin keys only
// (plugins/auth.js: a prediction key gets 403). The API trusts whoever holds
// its REGWATCH_ADMIN_TOKEN, so the gateway sends that token here and nowhere
// else, with `X-Regwatch-Actor` set to the caller's key id for the API's audit
// trail; whatever the caller sent in those two headers is dropped
// (lib/upstream.js). Bodies, the query string (`?model=`) and the API's
// answers (200, 401, 403, 404, 409, 422) pass through unchanged.
import { modelQuery } from '../lib/model-name.js'
import { RELEASE, upstreamSubpath } from '../lib/mounts.js'
import { sendError } from '../lib/errors.js'
import { ACTOR_HEADER, forwardedBody } from '../lib/upstream.js'
import upstreamPlugin from '../plugins/upstream.js'

const METHODS = ['GET', 'POST', 'PUT', 'DELETE']

/** @type {import('fastify').FastifyPluginAsync} */
export default async function releaseRoutes (fastify) {
  // config.js refuses admin keys without the token, and only admin keys get here.
  const authorization = `Bearer ${fastify.config.adminToken}`
  await fastify.register(upstreamPlugin, {
    bodyTimeoutMs: fastify.config.upstreamTimeoutMs,
    requestHeaders: (request) => ({ authorization, [ACTOR_HEADER]: request.caller?.id })
  })

  /** @type {import('fastify').RouteHandlerMethod} */
  function release (request, reply) {
    const { '*': rest } = /** @type {{ '*'?: string }} */ (request.params)
    const path = rest === undefined ? RELEASE.upstream : upstreamSubpath(RELEASE, rest)
    if (path === undefined) return sendError(reply, 404, 'not found')
    request.log.info({ actor: request.caller?.id }, 'release request')
    return reply.forward(path, forwardedBody(request))
  }

  for (const url of [RELEASE.gateway, `${RELEASE.gateway}/*`]) {
    fastify.route({ method: METHODS, url, config: { auth: 'admin' }, ...modelQuery(), handler: release })
  }
}
