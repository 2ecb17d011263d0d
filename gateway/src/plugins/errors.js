// @ts-check
// Uniform JSON errors (lib/errors.js) for 4xx/5xx raised by the gateway itself;
// upstream error bodies pass through untouched.
import fp from 'fastify-plugin'
import { sendError } from '../lib/errors.js'

/** @type {Readonly<Record<string, string>>} */
const MESSAGES = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported media type'
}

/** @type {import('fastify').FastifyPluginAsync} */
async function errorsPlugin (fastify) {
  fastify.setErrorHandler(function onError (error, request, reply) {
    // Anything can be thrown; Fastify's own errors carry a code and a status.
    const { statusCode: status = 500, code = '', message: detail = '' } =
      /** @type {Partial<import('fastify').FastifyError>} */ (error ?? {})
    const statusCode = status >= 400 && status < 600 ? status : 500
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else {
      request.log.info({ code, statusCode }, 'request rejected')
    }
    // Never echo internal error details to callers.
    const message = MESSAGES[code] ?? (statusCode >= 500 ? 'internal gateway error' : detail)
    return sendError(reply, statusCode, message)
  })

  fastify.setNotFoundHandler(function onNotFound (request, reply) {
    return sendError(reply, 404, 'route not found')
  })
}

export default fp(errorsPlugin, { name: 'regwatch-errors', fastify: '5.x' })
