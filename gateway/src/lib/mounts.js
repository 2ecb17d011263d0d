// @ts-check
// Where each public gateway path lives on the upstream. One table, read both
// ways: the routes forward into it, and upstream URLs (a redirect's Location)
// are mapped back out of it, so the two directions cannot drift apart.

/** @typedef {{ readonly gateway: string, readonly upstream: string }} Mount */

/** @type {Mount} */
export const PREDICT = Object.freeze({ gateway: '/predict', upstream: '/predict' })
/** @type {Mount} */
export const MODELS = Object.freeze({ gateway: '/admin/models', upstream: '/models' })
/** @type {Mount} */
export const EVENTS = Object.freeze({ gateway: '/admin/events', upstream: '/events' })

/** @type {Mount} */
export const V2 = Object.freeze({ gateway: '/v2', upstream: '/v2' })
/** @type {Mount} */
export const RELEASE = Object.freeze({ gateway: '/admin/release', upstream: '/release' })

const MOUNTS = [PREDICT, MODELS, EVENTS, V2, RELEASE]

/**
 * The upstream path for the decoded wildcard `rest` below `mount`, each
 * segment encoded again; undefined for a dot segment, which a URL parser
 * would resolve out of the mount.
 * @param {Mount} mount
 * @param {string} rest
 * @returns {string | undefined}
 */
export function upstreamSubpath (mount, rest) {
  const segments = rest.split('/')
  if (segments.some((segment) => segment === '.' || segment === '..')) return undefined
  return `${mount.upstream}/${segments.map(encodeURIComponent).join('/')}`
}

/**
 * The gateway path that serves `upstreamPath` (as encoded on the wire), or
 * undefined when the gateway exposes no such path.
 * @param {string} upstreamPath
 * @returns {string | undefined}
 */
export function gatewayPath (upstreamPath) {
  for (const { gateway, upstream } of MOUNTS) {
    if (upstreamPath === upstream || upstreamPath.startsWith(`${upstream}/`)) {
      return gateway + upstreamPath.slice(upstream.length)
    }
  }
  return undefined
}
