// @ts-check
// Failure modes the gateway answers itself: 502, 504 and 413, each as JSON
// carrying the request id, also echoed in the X-Request-Id header.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import https from 'node:https'
import { startUpstream, startGateway, closedPort, closeServer, portOf, withKey } from './helpers.js'

/**
 * @param {Response} response
 * @param {number} status
 * @param {string} id
 */
async function assertGatewayError (response, status, id) {
  assert.equal(response.status, status)
  assert.equal(response.headers.get('x-request-id'), id)
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
  const body = /** @type {{ error: unknown, request_id: unknown }} */ (await response.json())
  assert.equal(body.request_id, id)
  assert.equal(typeof body.error, 'string')
  return body
}

test('upstream down: 502 on every proxied route, without hanging', { timeout: 10_000 }, async (t) => {
  const gateway = await startGateway({ UPSTREAM_URL: `http://127.0.0.1:${await closedPort()}` })
  t.after(() => gateway.close())

  const routes = [
    ['POST', '/predict'], ['GET', '/admin/models'], ['GET', '/admin/models/latest'],
    ['GET', '/admin/models/1'], ['GET', '/admin/events']
  ]
  for (const [method, path] of routes) {
    const id = `down-${path.replaceAll('/', '_')}`
    const response = await fetch(gateway.url + path, {
      method,
      headers: withKey({ 'x-request-id': id, 'content-type': 'application/json' }),
      body: method === 'POST' ? '{"instances": [[1]]}' : undefined
    })
    const body = await assertGatewayError(response, 502, id)
    assert.equal(body.error, 'upstream unavailable', path)
  }
})

test('upstream that never answers: 504 after UPSTREAM_TIMEOUT_MS', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream(() => { /* never respond */ })
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, UPSTREAM_TIMEOUT_MS: '150' })
  t.after(async () => { await gateway.close(); await upstream.close() })

  for (const [method, path] of [['POST', '/predict'], ['GET', '/admin/models']]) {
    const response = await fetch(gateway.url + path, {
      method,
      headers: withKey({ 'x-request-id': 'slow-1', 'content-type': 'application/json' }),
      body: method === 'POST' ? '{"instances": [[1]]}' : undefined
    })
    const body = await assertGatewayError(response, 504, 'slow-1')
    assert.equal(body.error, 'upstream timed out')
  }
})

test('SSE upstream that never sends its headers: 504 too', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream(() => { /* never respond */ })
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, UPSTREAM_TIMEOUT_MS: '150' })
  t.after(async () => { await gateway.close(); await upstream.close() })

  const response = await fetch(`${gateway.url}/admin/events`, { headers: withKey({ 'x-request-id': 'mute-sse' }) })
  await assertGatewayError(response, 504, 'mute-sse')
})

test('request body over BODY_LIMIT_BYTES: 413, and nothing reaches the upstream', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream()
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, BODY_LIMIT_BYTES: '1024' })
  t.after(async () => { await gateway.close(); await upstream.close() })

  const big = JSON.stringify({ instances: [Array.from({ length: 400 }, (_, i) => i)] })
  assert.ok(big.length > 1024)
  const response = await fetch(`${gateway.url}/predict`, {
    method: 'POST', body: big, headers: withKey({ 'x-request-id': 'big-1', 'content-type': 'application/json' })
  })
  const body = await assertGatewayError(response, 413, 'big-1')
  assert.equal(body.error, 'request body too large')
  assert.equal(upstream.requests.length, 0)

  // A body just under the limit still goes through.
  const small = JSON.stringify({ instances: [[1, 2, 3]] })
  const ok = await fetch(`${gateway.url}/predict`, {
    method: 'POST', body: small, headers: withKey({ 'content-type': 'application/json' })
  })
  assert.equal(ok.status, 200)
  assert.equal(/** @type {{ body: string }} */ (await ok.json()).body, small)
})

test('chunked body over the limit (no content-length): 413 as well', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream()
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, BODY_LIMIT_BYTES: '1024' })
  t.after(async () => { await gateway.close(); await upstream.close() })

  const chunks = [Buffer.alloc(800, 0x20), Buffer.alloc(800, 0x20)]
  const stream = new ReadableStream({
    pull (controller) {
      const next = chunks.shift()
      if (next) controller.enqueue(next)
      else controller.close()
    }
  })
  const response = await fetch(`${gateway.url}/predict`, {
    method: 'POST', body: stream, duplex: 'half', headers: withKey({ 'x-request-id': 'big-2', 'content-type': 'application/json' })
  })
  await assertGatewayError(response, 413, 'big-2')
  assert.equal(upstream.requests.length, 0)
})

test('an https upstream whose certificate is not trusted gets no request: 502, and it counts as unhealthy', { timeout: 10_000 }, async (t) => {
  const fixtures = new URL('./fixtures/', import.meta.url)
  let received = 0
  const server = https.createServer({
    key: await readFile(new URL('self-signed.key', fixtures)),
    cert: await readFile(new URL('self-signed.crt', fixtures))
  }, (req, res) => { received += 1; res.end('{}') })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => closeServer(server))
  const gateway = await startGateway({ UPSTREAM_URL: `https://127.0.0.1:${portOf(server)}` })
  t.after(() => gateway.close())

  assert.deepEqual(gateway.app.upstreams.counts(), { healthy: 0, total: 1 })
  const response = await fetch(`${gateway.url}/admin/models`, { headers: withKey({ 'x-request-id': 'tls-1' }) })
  const body = await assertGatewayError(response, 502, 'tls-1')
  assert.equal(body.error, 'upstream unavailable')
  assert.equal(received, 0)
})
