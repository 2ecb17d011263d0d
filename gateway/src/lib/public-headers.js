// @ts-check
// The upstream's address never reaches a caller. Its redirects are absolute
// URLs built from the Host the gateway sent (FastAPI's trailing-slash 307 says
// `Location: http://127.0.0.1:8000/models`), so Location and Content-Location
// are mapped onto the gateway's public path (lib/mounts.js), and any header
// that still names an upstream host is dropped.
import { gatewayPath } from './mounts.js'

/** @typedef {import('node:http').IncomingHttpHeaders} Headers */
/** @typedef {(headers: Headers, log?: import('fastify').FastifyBaseLogger) => Headers} HeaderRewriter */

const URL_HEADERS = new Set(['location', 'content-location'])
const SCHEME = /^[a-z][a-z\d+.-]*:/i
// A path-absolute or network-path reference; WHATWG URL parsing (and so every
// browser) reads a backslash as a slash.
const ROOTED = /^[/\\]/

/** @param {string} text */
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * @param {readonly string[]} upstreamOrigins  e.g. `http://127.0.0.1:8000` (config.upstreamUrls)
 * @returns {HeaderRewriter}
 */
export function createPublicHeaders (upstreamOrigins) {
  const upstreams = upstreamOrigins.map((origin) => new URL(origin))
  const origins = new Set(upstreams.map((url) => url.origin))
  // `//host` with any port, after any scheme or none: a URL naming an upstream.
  const hosts = [...new Set(upstreams.map((url) => escapeRegExp(url.hostname)))].join('|')
  const namesUpstream = new RegExp(`[/\\\\]{2}(?:${hosts})(?![\\w.-])`, 'i')

  /**
   * The public form of a URL-valued header, or undefined to drop it.
   * @param {string} value
   */
  function publicUrl (value) {
    // A relative path (`latest`, `?page=2`) resolves against the gateway's own
    // URL at the client, and the mounts keep paths below their prefix as is.
    if (!ROOTED.test(value) && !SCHEME.test(value)) return value
    let url
    try {
      // A rooted path is on whichever upstream answered: any of them will do.
      url = new URL(value, upstreams[0])
    } catch {
      return undefined
    }
    if (!origins.has(url.origin)) return value
    const path = gatewayPath(url.pathname)
    return path === undefined ? undefined : `${path}${url.search}${url.hash}`
  }

  /** @param {string | string[]} value */
  const mentionsUpstream = (value) => [value].flat().some((item) => namesUpstream.test(item))

  return function publicHeaders (headers, log) {
    /** @type {Headers} */
    const kept = {}
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue
      const rewritten = URL_HEADERS.has(name) && typeof value === 'string' ? publicUrl(value) : value
      if (rewritten === undefined || mentionsUpstream(rewritten)) {
        log?.warn({ header: name }, 'dropped an upstream response header that points at the upstream')
        continue
      }
      kept[name] = rewritten
    }
    return kept
  }
}
