// @ts-check
// Short-lived, HMAC-signed tokens that let a browser EventSource (which cannot
// set headers) open /admin/events with `?token=...`.
// Format: `<expiry unix seconds>.<random nonce>.<HMAC-SHA256 signature>`,
// base64url where binary; the signature covers the scope, expiry and nonce.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const EVENTS_SCOPE = 'events'
// The query parameter that carries a token (EventSource cannot send headers).
export const TOKEN_PARAM = 'token'
const TOKEN_SHAPE = /^(\d{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$/

/** @typedef {string | Buffer} Secret */
/** @typedef {{ token: string, expiresIn: number }} IssuedToken */
/** @typedef {{ issue: () => IssuedToken, verify: (token: unknown) => boolean }} EventTokens */

/**
 * @param {Secret} secret
 * @param {string} scope
 * @param {number | string} expiry
 * @param {string} nonce
 */
const sign = (secret, scope, expiry, nonce) =>
  createHmac('sha256', secret).update(`${scope}.${expiry}.${nonce}`).digest()

const nowSeconds = () => Math.floor(Date.now() / 1000)

/**
 * @param {{ secret: Secret, ttlS: number, scope?: string, now?: number }} options
 * @returns {IssuedToken}
 */
export function issueToken ({ secret, ttlS, scope = EVENTS_SCOPE, now = nowSeconds() }) {
  const expiry = now + ttlS
  const nonce = randomBytes(16).toString('base64url')
  const signature = sign(secret, scope, expiry, nonce).toString('base64url')
  return { token: `${expiry}.${nonce}.${signature}`, expiresIn: ttlS }
}

/**
 * True only for an untampered, unexpired token of the given scope.
 * @param {unknown} token
 * @param {{ secret: Secret, scope?: string, now?: number }} options
 */
export function verifyToken (token, { secret, scope = EVENTS_SCOPE, now = nowSeconds() }) {
  if (typeof token !== 'string') return false
  const match = TOKEN_SHAPE.exec(token)
  if (!match) return false
  const [, expiry, nonce, signature] = match
  const expected = sign(secret, scope, expiry, nonce)
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false
  return Number(expiry) > now
}

/**
 * Issuing and checking bound to one secret and lifetime, for `fastify.eventTokens`.
 * @param {{ secret: Secret, ttlS: number }} options
 * @returns {EventTokens}
 */
export function createEventTokens ({ secret, ttlS }) {
  return Object.freeze({
    issue: () => issueToken({ secret, ttlS }),
    verify: (/** @type {unknown} */ token) => verifyToken(token, { secret })
  })
}
