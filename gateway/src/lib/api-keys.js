// @ts-check
// API keys: which keys are acceptable at start-up, where a request carries
// one, and constant-time matching.
import { createHash, timingSafeEqual } from 'node:crypto'

// 16 characters of a random hex string are 64 bits, out of reach of online
// guessing; `openssl rand -hex 32` (64 characters) is what the docs suggest.
const MIN_KEY_LENGTH = 16
// Printable ASCII without spaces: what survives an HTTP header and
// `Authorization: Bearer` unchanged (anything else could never match).
const KEY_CHARACTERS = /^[\x21-\x7e]*$/
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

/**
 * Why `key` cannot be a configured API key, or undefined when it can.
 * The answer never quotes the key: it ends up on stderr.
 * @param {string} key
 * @returns {string | undefined}
 */
export function keyProblem (key) {
  if (!KEY_CHARACTERS.test(key)) {
    return 'has a character outside printable ASCII (a space, a control or a non-ASCII character)'
  }
  if (key.length < MIN_KEY_LENGTH) {
    return `is too short: keys need at least ${MIN_KEY_LENGTH} characters (found ${key.length}); make one with: openssl rand -hex 32`
  }
  return undefined
}

/**
 * The key a request presents: `x-api-key` when present, else `Authorization: Bearer`.
 * @param {import('node:http').IncomingHttpHeaders} headers
 * @returns {string | undefined}
 */
export function presentedKey (headers) {
  const headerKey = headers['x-api-key']
  if (typeof headerKey === 'string' && headerKey !== '') return headerKey
  const match = BEARER.exec(headers.authorization ?? '')
  return match ? match[1] : undefined
}

/** @param {string} value */
const digest = (value) => createHash('sha256').update(value, 'utf8').digest()

/**
 * Who presented a valid key: `id` is `key:` and the first 12 hex characters
 * of the key's SHA-256, what logs and the API's audit trail may show (never
 * the key); `admin` for a key of ADMIN_API_KEYS.
 * @typedef {Readonly<{ id: string, admin: boolean }>} Caller
 */

/**
 * @param {string} key
 * @param {boolean} admin
 */
function entry (key, admin) {
  const keyDigest = digest(key)
  /** @type {Caller} */
  const caller = Object.freeze({ id: `key:${keyDigest.toString('hex').slice(0, 12)}`, admin })
  return { keyDigest, caller }
}

/**
 * Both sides are hashed to fixed-length SHA-256 digests first, so keys of any
 * length can go through crypto.timingSafeEqual, and every configured key is
 * checked (no early exit) so timing does not reveal which one matched.
 * @param {readonly string[]} keys
 * @param {readonly string[]} [adminKeys]
 * @returns {(candidate: unknown) => Caller | undefined}  the caller whose key it is
 */
export function createKeyMatcher (keys, adminKeys = []) {
  const entries = [...keys.map((key) => entry(key, false)), ...adminKeys.map((key) => entry(key, true))]
  return function match (candidate) {
    if (typeof candidate !== 'string' || candidate.length === 0) return undefined
    const candidateDigest = digest(candidate)
    /** @type {Caller | undefined} */
    let found
    for (const { keyDigest, caller } of entries) {
      if (timingSafeEqual(candidateDigest, keyDigest)) found = caller
    }
    return found
  }
}
