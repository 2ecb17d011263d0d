// Constant-time API key matching.
// Both sides are hashed to fixed-length SHA-256 digests first, so keys of any
// length can go through crypto.timingSafeEqual, and every configured key is
// checked (no early exit) so timing does not reveal which one matched.
import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (value) => createHash('sha256').update(value, 'utf8').digest()

export function createKeyMatcher (keys) {
  const digests = keys.map(digest)
  return function matches (candidate) {
    if (typeof candidate !== 'string' || candidate.length === 0) return false
    const candidateDigest = digest(candidate)
    let found = false
    for (const keyDigest of digests) {
      if (timingSafeEqual(candidateDigest, keyDigest)) found = true
    }
    return found
  }
}
