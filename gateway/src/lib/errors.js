// @ts-check
// The one shape of an error the gateway answers itself, so callers can tell it
// from an upstream body: `{"error": "...", "request_id": "..."}`.

/** @typedef {{ code: (statusCode: number) => { send: (payload: unknown) => unknown }, request: { id: string } }} ErrorReply */

/**
 * @param {ErrorReply} reply  a Fastify reply (of any server type)
 * @param {number} statusCode
 * @param {string} message
 */
export function sendError (reply, statusCode, message) {
  return reply.code(statusCode).send({ error: message, request_id: reply.request.id })
}
