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
// `?location=` and `?link=` let a test choose other upstream-made headers.
/** @type {import('./helpers.js').UpstreamHandler} */
function fastApiLike (req, res) {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`)
  const origin = url.origin
  if (url.pathname.endsWith('/') && url.pathname !== '/') {
    res.writeHead(307, { location: `${origin}${url.pathname.slice(0, -1)}${url.search}`, 'content-length': '0' })
    res.end()
    return
  }
  const location = url.searchParams.get('location')
  const link = url.searchParams.get('link')
  res.writeHead(location === null ? 200 : 302, {
    'content-type': 'application/json',
    ...(location === null ? {} : { location: location.replace('{origin}', origin) }),
    ...(link === null ? {} : { link: link.replace('{origin}', origin) })
  })
  res.end(JSON.stringify({ url: req.url }))
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
  const cases = [
    ['{origin}/models/latest', '/admin/models/latest'],
    ['{origin}/models/1.2.0?x=1#top', '/admin/models/1.2.0?x=1#top'],
    ['{origin}/models/a%2Fb', '/admin/models/a%2Fb'],
    ['{origin}/events?last_event_id=4', '/admin/events?last_event_id=4'],
    ['{origin}/predict', '/predict'],
    ['/models/latest', '/admin/models/latest'],
    [`//${new URL(upstream.url).host}/models`, '/admin/models']
  ]
  for (const [location, expected] of cases) {
    const response = await get(`/admin/models?location=${encodeURIComponent(location)}`)
    assert.equal(response.status, 302, location)
    assert.equal(response.headers.get('location'), expected, location)
    assertNoUpstreamAddress(response)
    await response.arrayBuffer()
  }
})

test('an upstream URL the gateway does not serve is dropped, the status kept', async () => {
  for (const location of ['{origin}/metrics', '{origin}/models/../healthz', '/docs', 'http://[bad']) {
    const response = await get(`/admin/models?location=${encodeURIComponent(location)}`)
    assert.equal(response.status, 302, location)
    assert.equal(response.headers.get('location'), null, location)
    assertNoUpstreamAddress(response)
    await response.arrayBuffer()
  }
})

test('relative and foreign locations pass unchanged', async () => {
  for (const location of ['latest', '?page=2', 'https://docs.example.com/regwatch']) {
    const response = await get(`/admin/models?location=${encodeURIComponent(location)}`)
    assert.equal(response.headers.get('location'), location)
    await response.arrayBuffer()
  }
})

test('any other header naming the upstream is dropped; others pass', async () => {
  const dropped = await get(`/admin/models?link=${encodeURIComponent('<{origin}/models?page=2>; rel="next"')}`)
  assert.equal(dropped.status, 200)
  assert.equal(dropped.headers.get('link'), null)
  assertNoUpstreamAddress(dropped)
  await dropped.arrayBuffer()

  const kept = await get(`/admin/models?link=${encodeURIComponent('<https://docs.example.com/>; rel="help"')}`)
  assert.equal(kept.headers.get('link'), '<https://docs.example.com/>; rel="help"')
  await kept.arrayBuffer()
})
