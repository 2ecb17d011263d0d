// @ts-check
// GET /admin/events: streamed SSE pass-through, disconnect propagation,
// Last-Event-ID, and the short-lived token flow for browser EventSource.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { startUpstream, startGateway, openStream, portOf, withKey, KEY, TOKEN_SECRET } from './helpers.js'
import { issueToken } from '../src/lib/tokens.js'

const FIRST_EVENT = ': ping\n\nid: 41\nevent: model_published\ndata: {"version":"1.0.0"}\n\n'
const hasFirstEvent = (/** @type {string} */ text) => text.includes(FIRST_EVENT)

/**
 * An SSE upstream that sends a keep-alive comment and one event, then keeps
 * the stream open until the peer goes away.
 * @type {import('./helpers.js').UpstreamHandler}
 */
function sseHandler (req, res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write(FIRST_EVENT)
}

/**
 * @param {import('node:test').TestContext} t
 * @param {Record<string, string>} [env]
 */
async function setup (t, env = {}, handler = sseHandler) {
  const upstream = await startUpstream(handler)
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, ...env })
  t.after(async () => { await gateway.close(); await upstream.close() })
  return { upstream, gateway }
}

/**
 * @param {import('./helpers.js').Gateway} gateway
 * @returns {Promise<{ token: string, expires_in: number }>}
 */
async function mintToken (gateway) {
  const response = await fetch(`${gateway.url}/admin/tokens`, { method: 'POST', headers: withKey() })
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('cache-control'), 'no-store')
  return /** @type {Promise<{ token: string, expires_in: number }>} */ (response.json())
}

/**
 * Opens the stream, waits for the first event, disconnects, and waits until
 * the upstream has seen its request closed. Returns what the upstream got.
 * @param {import('./helpers.js').Upstream} upstream
 * @param {string} url
 * @param {Record<string, string>} headers
 */
async function readFirstEventAndDisconnect (upstream, url, headers) {
  const seen = upstream.nextRequest()
  const stream = await openStream(url, headers)
  assert.equal(stream.status, 200)
  await stream.until(hasFirstEvent)
  const upstreamRequest = await seen
  const upstreamClosed = once(upstreamRequest.res, 'close')
  stream.close()
  await upstreamClosed
  return upstreamRequest
}

test('an event reaches the client while the upstream stream is still open; disconnecting closes the upstream request', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const seen = upstream.nextRequest()
  const stream = await openStream(`${gateway.url}/admin/events`, withKey({ 'x-request-id': 'sse-1' }))
  t.after(() => stream.close())
  assert.equal(stream.status, 200)
  assert.equal(stream.headers['content-type'], 'text/event-stream')
  assert.equal(stream.headers['x-request-id'], 'sse-1')

  assert.equal(await stream.until(hasFirstEvent), FIRST_EVENT)
  const upstreamRequest = await seen
  assert.equal(upstreamRequest.res.writableEnded, false, 'the upstream has not ended its stream')
  assert.equal(upstreamRequest.headers['x-request-id'], 'sse-1')

  const upstreamClosed = once(upstreamRequest.res, 'close')
  stream.close()
  await upstreamClosed
  assert.equal(upstreamRequest.res.writableEnded, false, 'closed by the disconnect, not by the upstream')
})

test('events keep flowing after UPSTREAM_TIMEOUT_MS: the stream has no response timeout', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t, { UPSTREAM_TIMEOUT_MS: '100' })
  const seen = upstream.nextRequest()
  const stream = await openStream(`${gateway.url}/admin/events`, withKey())
  t.after(() => stream.close())
  await stream.until(hasFirstEvent)
  const { res } = await seen

  // The one deliberate wait: silence on the stream for three times the timeout.
  await delay(300)
  res.write('id: 42\ndata: later\n\n')
  await stream.until((text) => text.includes('id: 42\ndata: later\n\n'))
})

test('when the upstream ends the stream, the client\'s stream ends too', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const seen = upstream.nextRequest()
  const stream = await openStream(`${gateway.url}/admin/events`, withKey())
  t.after(() => stream.close())
  await stream.until(hasFirstEvent)
  const { res } = await seen
  res.end('id: 43\ndata: bye\n\n')
  await stream.until((text) => text.endsWith('id: 43\ndata: bye\n\n'))
  await stream.closed()
})

test('Last-Event-ID header and last_event_id query pass through', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const viaHeader = await readFirstEventAndDisconnect(upstream, `${gateway.url}/admin/events`, withKey({ 'last-event-id': '40' }))
  assert.equal(viaHeader.headers['last-event-id'], '40')
  assert.equal(viaHeader.url, '/events')

  const viaQuery = await readFirstEventAndDisconnect(upstream, `${gateway.url}/admin/events?last_event_id=39`, withKey())
  assert.equal(viaQuery.url, '/events?last_event_id=39')
})

test('upstream error responses on /events pass through', { timeout: 10_000 }, async (t) => {
  const { gateway } = await setup(t, {}, (req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' })
    res.end('{"detail":"event bus unavailable"}')
  })
  const response = await fetch(`${gateway.url}/admin/events`, { headers: withKey() })
  assert.equal(response.status, 503)
  assert.equal(response.headers.get('content-type'), 'application/json')
  assert.equal(await response.text(), '{"detail":"event bus unavailable"}')
})

test('token flow: a minted token opens /admin/events without a key, and is not forwarded upstream', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t, { TOKEN_TTL_S: '90' })
  const { token, expires_in: expiresIn } = await mintToken(gateway)
  assert.equal(typeof token, 'string')
  assert.equal(expiresIn, 90)

  const upstreamRequest = await readFirstEventAndDisconnect(
    upstream, `${gateway.url}/admin/events?token=${encodeURIComponent(token)}&last_event_id=7`, { 'last-event-id': '7' })
  assert.equal(upstreamRequest.url, '/events?last_event_id=7', 'token stripped, other parameters kept')
  assert.equal(upstreamRequest.headers['last-event-id'], '7')
})

test('token flow: the token is accepted nowhere else', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const { token } = await mintToken(gateway)
  const before = upstream.requests.length
  for (const [method, path] of [['POST', '/predict'], ['GET', '/admin/models'], ['GET', '/admin/models/latest'], ['POST', '/admin/tokens']]) {
    const response = await fetch(`${gateway.url}${path}?token=${token}`, { method })
    assert.equal(response.status, 401, path)
    await response.text()
  }
  /** @type {Record<string, string>[]} */
  const ways = [{ 'x-api-key': token }, { authorization: `Bearer ${token}` }]
  for (const headers of ways) {
    const response = await fetch(`${gateway.url}/admin/events`, { headers })
    assert.equal(response.status, 401, 'a token is not an API key')
    await response.text()
  }
  assert.equal(upstream.requests.length, before)
})

test('token flow: expired, tampered, foreign and garbage tokens are rejected', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const { token } = await mintToken(gateway)
  const [expiry, nonce, signature] = token.split('.')
  const mid = Math.floor(signature.length / 2)
  const rejected = {
    expired: issueToken({ secret: TOKEN_SECRET, ttlS: 60, now: Math.floor(Date.now() / 1000) - 3600 }).token,
    'longer expiry': `${Number(expiry) + 3600}.${nonce}.${signature}`,
    'altered signature': `${expiry}.${nonce}.${signature.slice(0, mid)}${signature[mid] === 'A' ? 'B' : 'A'}${signature.slice(mid + 1)}`,
    'other nonce': `${expiry}.${'A'.repeat(nonce.length)}.${signature}`,
    'other secret': issueToken({ secret: 'z'.repeat(40), ttlS: 60 }).token,
    garbage: 'not-a-token',
    empty: ''
  }
  const before = upstream.requests.length
  for (const [name, bad] of Object.entries(rejected)) {
    const response = await fetch(`${gateway.url}/admin/events?token=${encodeURIComponent(bad)}`, { headers: { 'x-request-id': 'tok-1' } })
    assert.equal(response.status, 401, name)
    assert.equal(response.headers.get('x-request-id'), 'tok-1')
    assert.deepEqual(await response.json(), { error: 'invalid or expired token', request_id: 'tok-1' }, name)
  }
  assert.equal(upstream.requests.length, before)
})

test('without TOKEN_SECRET, tokens are signed with a per-process random key', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t, { TOKEN_SECRET: '' })
  const { token } = await mintToken(gateway)
  await readFirstEventAndDisconnect(upstream, `${gateway.url}/admin/events?token=${encodeURIComponent(token)}`, {})

  const other = await startGateway({ UPSTREAM_URL: upstream.url, TOKEN_SECRET: '' })
  t.after(() => other.close())
  const response = await fetch(`${other.url}/admin/events?token=${encodeURIComponent(token)}`)
  assert.equal(response.status, 401, 'another process does not accept it')
  await response.text()
})

test('a valid key still opens the stream when a bad token is also present', { timeout: 10_000 }, async (t) => {
  const { upstream, gateway } = await setup(t)
  const upstreamRequest = await readFirstEventAndDisconnect(upstream, `${gateway.url}/admin/events?token=stale`, { 'x-api-key': KEY })
  assert.equal(upstreamRequest.url, '/events')
})

test('closing the gateway cuts open streams instead of waiting for them', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream(sseHandler)
  t.after(() => upstream.close())
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url })
  const seen = upstream.nextRequest()
  const stream = await openStream(`${gateway.url}/admin/events`, withKey())
  t.after(() => stream.close())
  await stream.until(hasFirstEvent)
  const { res } = await seen
  const upstreamClosed = once(res, 'close')

  await gateway.close()
  await upstreamClosed
  await stream.closed()
})

test('shutdown is bounded: a connection that never sends a request is cut after SHUTDOWN_GRACE_MS', { timeout: 10_000 }, async (t) => {
  const { createConnection } = await import('node:net')
  const upstream = await startUpstream(sseHandler)
  t.after(() => upstream.close())
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, SHUTDOWN_GRACE_MS: '50' })
  const socket = createConnection(portOf(gateway.app.server), '127.0.0.1')
  t.after(() => socket.destroy())
  await once(socket, 'connect')
  await Promise.all([gateway.close(), once(socket, 'close')])
})
