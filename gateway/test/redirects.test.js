// @ts-check
// The upstream's own address never reaches a caller: its redirects (FastAPI's
// trailing-slash 307 builds `Location` from the Host the gateway sent) are
// mapped onto the gateway's public paths, and headers naming it are dropped.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstream, startGateway, withKey } from './helpers.js'

/** @typedef {import('./helpers.js').Upstream} Upstream */
/** @typedef {import('./helpers.js').Gateway} Gateway */

/** @type {Upstream} */
let upstream
/** @type {Gateway} */
let gateway

// Like Starlette's redirect_slashes: `/models/` is not a route, `/models` is,
// so answer 307 to the absolute URL built from the request's Host header.
// Otherwise `?h.NAME=VALUE` sets response header NAME (`{origin}` in VALUE is the
// upstream's own origin, as the upstream sees it), with 302 when it is a Location.
/** @type {import('./helpers.js').UpstreamHandler} */
function fastApiLike (req, res) {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`)
  if (url.pathname.endsWith('/') && url.pathname !== '/') {
    res.writeHead(307, { location: `${url.origin}${url.pathname.slice(0, -1)}${url.search}`, 'content-length': '0' })
    res.end()
    return
  }
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' }
  for (const [name, value] of url.searchParams) {
    if (name.startsWith('h.')) headers[name.slice(2)] = value.replace('{origin}', url.origin)
  }
  res.writeHead('location' in headers ? 302 : 200, headers)
  res.end(JSON.stringify({ url: req.url }))
}

/**
 * The gateway's answer when the upstream sets response header `name` to `value`.
 * @param {string} name
 * @param {string} value
 */
async function withUpstreamHeader (name, value) {
  const response = await get(`/admin/models?h.${name}=${encodeURIComponent(value)}`)
  await response.arrayBuffer()
  return response
}

before(async () => {
  upstream = await startUpstream(fastApiLike)
  gateway = await startGateway({ UPSTREAM_URL: upstream.url })
})
after(async () => {
  await gateway?.close()
  await upstream?.close()
})

/** @param {string} path */
const get = (path) => fetch(gateway.url + path, { headers: withKey(), redirect: 'manual' })

/** @param {Response} response */
function assertNoUpstreamAddress (response) {
  const { host } = new URL(upstream.url)
  for (const [name, value] of response.headers) {
    assert.equal(value.includes(host), false, `${name}: ${value} names the upstream`)
  }
}

test('FastAPI\'s trailing-slash 307 points at the gateway\'s path, not the upstream\'s address', async () => {
  const seen = upstream.nextRequest()
  const response = await get('/admin/models/?limit=3')
  assert.equal((await seen).url, '/models/?limit=3', 'the upstream made the redirect')
  assert.equal(response.status, 307)
  assert.equal(response.headers.get('location'), '/admin/models?limit=3')
  assertNoUpstreamAddress(response)
  await response.arrayBuffer()
})

test('following the rewritten redirect reaches the route through the gateway', async () => {
  const response = await fetch(`${gateway.url}/admin/models/`, { headers: withKey() })
  assert.equal(response.status, 200)
  assert.equal(response.url, `${gateway.url}/admin/models`)
  assert.deepEqual(await response.json(), { url: '/models' })
})

test('every upstream URL form maps onto its public path', async () => {
  const { host, port } = new URL(upstream.url)
  const cases = [
    ['{origin}/models/latest', '/admin/models/latest'],
    ['{origin}/models/1.2.0?x=1#top', '/admin/models/1.2.0?x=1#top'],
    ['{origin}/models/a%2Fb', '/admin/models/a%2Fb'],
    ['{origin}/events?last_event_id=4', '/admin/events?last_event_id=4'],
    ['{origin}/predict', '/predict'],
    [`HTTP://127.0.0.1:${port}/models`, '/admin/models'],
    ['/models/latest', '/admin/models/latest'],
    [`//${host}/models`, '/admin/models'],
    [`\\\\${host}/models`, '/admin/models']
  ]
  for (const [location, expected] of cases) {
    const response = await withUpstreamHeader('location', location)
    assert.equal(response.status, 302, location)
    assert.equal(response.headers.get('location'), expected, location)
    assertNoUpstreamAddress(response)
  }
  const described = await withUpstreamHeader('content-location', '{origin}/models/2.0.0')
  assert.equal(described.headers.get('content-location'), '/admin/models/2.0.0')
})

test('an upstream URL the gateway does not serve is dropped, the status kept', async () => {
  for (const location of ['{origin}/metrics', '{origin}/models/../healthz', '/docs', 'http://[bad']) {
    const response = await withUpstreamHeader('location', location)
    assert.equal(response.status, 302, location)
    assert.equal(response.headers.get('location'), null, location)
    assertNoUpstreamAddress(response)
  }
})

test('relative and foreign locations pass unchanged', async () => {
  for (const location of ['latest', '?page=2', 'https://docs.example.com/regwatch']) {
    const response = await withUpstreamHeader('location', location)
    assert.equal(response.headers.get('location'), location)
  }
})

test('any other header naming the upstream is dropped; others pass', async () => {
  const { host } = new URL(upstream.url)
  for (const value of ['<{origin}/models?page=2>; rel="next"', `served by //${host}`, 'see HTTP://127.0.0.1:1/']) {
    const dropped = await withUpstreamHeader('link', value)
    assert.equal(dropped.status, 200)
    assert.equal(dropped.headers.get('link'), null, value)
    assertNoUpstreamAddress(dropped)
  }
  for (const value of ['<https://docs.example.com/>; rel="help"', 'http://127.0.0.10/', '//127.0.0.1.example.com/']) {
    const kept = await withUpstreamHeader('link', value)
    assert.equal(kept.headers.get('link'), value)
  }
})
