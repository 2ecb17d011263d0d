// @ts-check
// Helpers to drop or mask one query parameter (the SSE `token`) in a raw URL,
// so it is neither logged nor forwarded upstream. Parameter names are compared
// after percent-decoding, the same way Fastify's query parser reads them.

/** @param {string} name */
function decodeName (name) {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/**
 * @param {string} url
 * @returns {[string, string]} the path and the query (without '?')
 */
function splitUrl (url) {
  const index = url.indexOf('?')
  return index === -1 ? [url, ''] : [url.slice(0, index), url.slice(index + 1)]
}

/**
 * @param {string} query
 * @param {string} param
 * @param {string | undefined} replacement  the new value, or undefined to drop the pair
 */
function mapQuery (query, param, replacement) {
  return query
    .split('&')
    .flatMap((pair) => {
      const name = pair.split('=', 1)[0]
      if (decodeName(name) !== param) return [pair]
      return replacement === undefined ? [] : [`${name}=${replacement}`]
    })
    .join('&')
}

/**
 * The query string without `param` (no leading '?'); '' when nothing is left.
 * @param {string} url
 * @param {string} param
 */
export function queryWithout (url, param) {
  const [, query] = splitUrl(url)
  return query === '' ? '' : mapQuery(query, param, undefined)
}

/**
 * The URL with the value of `param` masked, for logging.
 * @param {string} url
 * @param {string} param
 */
export function maskQueryParam (url, param, mask = '[redacted]') {
  const [path, query] = splitUrl(url)
  return query === '' ? url : `${path}?${mapQuery(query, param, mask)}`
}
