// Uniform JSON errors: `{"error": "...", "request_id": "..."}` for 4xx/5xx
// raised by the gateway itself (upstream error bodies pass through untouched).
import fp from 'fastify-plugin'

export function sendError (reply, statusCode, message) {
  return reply.code(statusCode).send({ error: message, request_id: reply.request.id })
}

const MESSAGES = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported media type'
}

export default fp(async function errorsPlugin (fastify) {
  fastify.setErrorHandler(function onError (error, request, reply) {
    const statusCode = error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else {
      request.log.info({ code: error.code, statusCode }, 'request rejected')
    }
    // Never echo internal error details to callers.
    const message = MESSAGES[error.code] ?? (statusCode >= 500 ? 'internal gateway error' : error.message)
    return sendError(reply, statusCode, message)
  })

  fastify.setNotFoundHandler(function onNotFound (request, reply) {
    return sendError(reply, 404, 'route not found')
  })
}, { name: 'regwatch-errors' })
