// @ts-check
// The `?model=NAME` query parameter of the JSON routes, /admin/events and
// /admin/release…: checked at the gateway (Fastify's schema validation, a 400
// before anything is sent upstream) against the registry's model name rule,
// then passed on with the rest of the query string.

/** The registry's rule for a model name (DESIGN.md, "Many models"). */
export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

const INVALID_MODEL = 'model must be a model name, given once: 1 to 64 characters of a-z, 0-9, ".", "_" and "-", the first a letter or a digit'

/**
 * Route options accepting at most one `model` query parameter that is a
 * valid model name; other parameters are the upstream's to judge. A fresh
 * object per route: Fastify compiles each route's schema on its own.
 */
export const modelQuery = () => ({
  schema: {
    querystring: {
      type: 'object',
      properties: { model: { type: 'string', pattern: MODEL_NAME.source } }
    }
  },
  // The one parameter checked, so one message that says what a name is.
  schemaErrorFormatter: () => new Error(INVALID_MODEL)
})
