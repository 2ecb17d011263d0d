// @ts-check
// The Open Inference Protocol routes through the gateway against a real
// upstream server: key required, paths, methods and bodies forwarded as is.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { startUpstream, startGateway, withKey } from './helpers.js'
import { upstreamSubpath, V2 } from '../src/lib/mounts.js'

/** @type {import('./helpers.js').Upstream} */
let upstream
/** @type {import('./helpers.js').Gateway} */
let gateway

before(async () => {
  upstream = await startUpstream()
  gateway = await startGateway({ UPSTREAM_URL: upstream.url })
})
after(async () => {
  await gateway?.close()
  await upstream?.close()
})

test('every /v2 route needs an API key', async () => {
  for (const path of ['/v2', '/v2/health/ready', '/v2/models/default/infer']) {
    const response = await fetch(gateway.url + path, { method: path.endsWith('infer') ? 'POST' : 'GET' })
    assert.equal(response.status, 401, path)
  }
  assert.equal(upstream.requests.length, 0)
})

test('GETs go to the same path upstream', async () => {
  for (const path of ['/v2', '/v2/health/live', '/v2/models/default/versions/1.0.0/ready']) {
    const seen = upstream.nextRequest()
    const response = await fetch(gateway.url + path, { headers: withKey() })
    assert.equal(response.status, 200)
    const forwarded = await seen
    assert.equal(forwarded.method, 'GET')
    assert.equal(forwarded.url, path)
    assert.equal(forwarded.headers['x-api-key'], undefined, 'the key stays at the gateway')
  }
})

test('infer forwards the exact body bytes, version path and query', async () => {
  const body = '{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}'
  const seen = upstream.nextRequest()
  const response = await fetch(`${gateway.url}/v2/models/default/versions/1.0.0%2Blocal/infer?x=1`, {
    method: 'POST', body, headers: withKey({ 'content-type': 'application/json' })
  })
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('x-model-version'), '7')
  const forwarded = await seen
  assert.equal(forwarded.method, 'POST')
  assert.equal(forwarded.url, '/v2/models/default/versions/1.0.0%2Blocal/infer?x=1')
  assert.equal(forwarded.body, body)
})

/**
 * GET `path` exactly as written (fetch would resolve dot segments first).
 * @param {string} path
 * @returns {Promise<number | undefined>}
 */
async function rawGetStatus (path) {
  const request = http.get(gateway.url + '/', { path, headers: withKey() })
  const [response] = await once(request, 'response')
  response.resume()
  return response.statusCode
}

test('a dot segment never leaves the /v2 mount', async () => {
  const before = upstream.requests.length
  for (const path of ['/v2/models/%2e%2e/%2e%2e/models', '/v2/models/../../models', '/v2/./health/live']) {
    assert.equal(await rawGetStatus(path), 404, path)
  }
  assert.equal(upstream.requests.length, before, 'nothing reached the upstream')
  assert.equal(upstreamSubpath(V2, 'models/../../models'), undefined)
  assert.equal(upstreamSubpath(V2, 'models/a b/ready'), '/v2/models/a%20b/ready')
})

test('/v2/models/{name}/… reaches the upstream for model names of every allowed shape', async () => {
  for (const name of ['iris', '0', 'a.b_c-d', 'a..b', 'v1.', 'm'.repeat(64)]) {
    for (const [method, path] of [['GET', `/v2/models/${name}`], ['GET', `/v2/models/${name}/ready`], ['POST', `/v2/models/${name}/versions/1.0.0/infer`]]) {
      const seen = upstream.nextRequest()
      const response = await fetch(gateway.url + path, { method, headers: withKey(), body: method === 'POST' ? '{}' : undefined })
      assert.equal(response.status, 200, `${method} ${path}`)
      await response.arrayBuffer()
      assert.equal((await seen).url, path)
    }
  }
})
