// @ts-check
// Proxying of the request/response routes against a real upstream server:
// paths, methods, bodies, query strings, status/header pass-through, request ids.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstream, startGateway, echoHandler as echo, withKey, KEY } from './helpers.js'

/** @typedef {import('./helpers.js').UpstreamHandler} UpstreamHandler */

/** @type {import('./helpers.js').Upstream} */
let upstream
/** @type {import('./helpers.js').Gateway} */
let gateway
/** @type {UpstreamHandler} per-test upstream behaviour; defaults to the echo handler */
let respond = echo

before(async () => {
  upstream = await startUpstream((req, res, body) => respond(req, res, body))
  gateway = await startGateway({ UPSTREAM_URL: upstream.url })
})
after(async () => {
  await gateway?.close()
  await upstream?.close()
})

/**
 * Sends `init` (with the key) and returns the response and what the upstream got.
 * @param {string} path
 * @param {Omit<RequestInit, 'headers'> & { headers?: Record<string, string>, respond?: UpstreamHandler }} [init]
 */
async function call (path, init = {}) {
  respond = init.respond ?? echo
  const seen = upstream.nextRequest()
  const response = await fetch(gateway.url + path, { ...init, headers: withKey(init.headers) })
  return { response, upstreamRequest: await seen }
}

test('POST /predict forwards method, path, query string and the exact body bytes', async () => {
  const body = '{"instances": [[1.0, 2.5], [3, 4]]}'
  const { response, upstreamRequest } = await call('/predict?version=1.2.0&dry_run=1', {
    method: 'POST', body, headers: { 'content-type': 'application/json' }
  })
  assert.equal(response.status, 200)
  assert.equal(upstreamRequest.method, 'POST')
  assert.equal(upstreamRequest.url, '/predict?version=1.2.0&dry_run=1')
  assert.equal(upstreamRequest.body, body, 'body forwarded byte for byte')
  assert.equal(upstreamRequest.headers['content-type'], 'application/json')
  assert.equal(response.headers.get('x-model-version'), '7')
  assert.equal(response.headers.get('content-type'), 'application/json')
})

test('malformed JSON is left to the upstream to judge', async () => {
  const { response, upstreamRequest } = await call('/predict', {
    method: 'POST', body: '{"instances": [', headers: { 'content-type': 'application/json' }
  })
  assert.equal(response.status, 200)
  assert.equal(upstreamRequest.body, '{"instances": [')
})

test('gateway credentials are not forwarded upstream', async () => {
  const { upstreamRequest } = await call('/admin/models', { headers: { authorization: 'Bearer something' } })
  assert.equal(upstreamRequest.headers['x-api-key'], undefined)
  assert.equal(upstreamRequest.headers.authorization, undefined)
})

test('GET admin routes map onto the upstream model routes', async () => {
  const cases = [
    ['/admin/models', '/models'],
    ['/admin/models?limit=3', '/models?limit=3'],
    ['/admin/models?limit=3&token=not-for-upstream', '/models?limit=3'],
    ['/admin/models/latest', '/models/latest'],
    ['/admin/models/1.4.2', '/models/1.4.2'],
    ['/admin/models/v%201', '/models/v%201'],
    ['/admin/models/a%2Fb', '/models/a%2Fb']
  ]
  for (const [path, upstreamPath] of cases) {
    const { response, upstreamRequest } = await call(path)
    assert.equal(response.status, 200, path)
    assert.equal(upstreamRequest.method, 'GET', path)
    assert.equal(upstreamRequest.url, upstreamPath, path)
  }
})

test('a version that would climb out of /models is refused before reaching the upstream', async () => {
  const before = upstream.requests.length
  const response = await fetch(`${gateway.url}/admin/models/..%2Fhealthz`, { headers: withKey() })
  assert.equal(response.status, 400)
  assert.equal(upstream.requests.length, before)
})

test('upstream error statuses, JSON bodies and headers pass through unchanged', async () => {
  const detail = '{"detail":[{"loc":["body","instances"],"msg":"field required","type":"missing"}]}'
  const { response } = await call('/predict?version=2', {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
    respond: (req, res) => {
      res.writeHead(422, { 'content-type': 'application/json', 'x-model-version': '2' })
      res.end(detail)
    }
  })
  assert.equal(response.status, 422)
  assert.equal(response.headers.get('content-type'), 'application/json')
  assert.equal(response.headers.get('x-model-version'), '2')
  assert.equal(await response.text(), detail)

  for (const status of [404, 503]) {
    const body = JSON.stringify({ detail: `status ${status}` })
    const { response: passed } = await call('/admin/models/latest', {
      respond: (req, res) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(body) }
    })
    assert.equal(passed.status, status)
    assert.equal(await passed.text(), body)
  }
})

test('an upstream 503 on GET is returned as is, not retried', async () => {
  const before = upstream.requests.length
  const { response } = await call('/admin/models', {
    respond: (req, res) => { res.writeHead(503, { 'content-type': 'application/json' }); res.end('{"detail":"no model"}') }
  })
  assert.equal(response.status, 503)
  await response.text()
  assert.equal(upstream.requests.length, before + 1)
})

test('a sane X-Request-Id is kept end to end', async () => {
  const id = 'client-42.run:7_x'
  const { response, upstreamRequest } = await call('/admin/models', { headers: { 'x-request-id': id } })
  assert.equal(upstreamRequest.headers['x-request-id'], id)
  assert.equal(response.headers.get('x-request-id'), id)
})

test('a missing or insane X-Request-Id is replaced, and the upstream sees the replacement', async () => {
  for (const insane of [undefined, 'a'.repeat(129), 'has spaces in it', 'tab\there', 'semi;colon']) {
    /** @type {Record<string, string>} */
    const headers = insane === undefined ? {} : { 'x-request-id': insane }
    const { response, upstreamRequest } = await call('/admin/models', { headers })
    const returned = response.headers.get('x-request-id') ?? ''
    assert.match(returned, /^[0-9a-f-]{36}$/, `replaced ${JSON.stringify(insane)}`)
    assert.notEqual(returned, insane)
    assert.equal(upstreamRequest.headers['x-request-id'], returned)
  }
})

test('the upstream\'s own X-Request-Id cannot override the gateway\'s', async () => {
  const { response, upstreamRequest } = await call('/admin/models', {
    respond: (req, res) => { res.writeHead(200, { 'x-request-id': 'upstream-made-this-up' }); res.end('{}') }
  })
  assert.equal(response.headers.get('x-request-id'), upstreamRequest.headers['x-request-id'])
})

test('an authenticated unknown route is a 404 JSON error carrying the request id', async () => {
  const response = await fetch(`${gateway.url}/no/such/route`, { headers: withKey({ 'x-request-id': 'nf-1' }) })
  assert.equal(response.status, 404)
  assert.equal(response.headers.get('x-request-id'), 'nf-1')
  assert.deepEqual(await response.json(), { error: 'route not found', request_id: 'nf-1' })
  const wrongMethod = await fetch(`${gateway.url}/predict`, { headers: withKey() })
  assert.equal(wrongMethod.status, 404)
})

test('the key is accepted through either header on every proxied route', async () => {
  for (const path of ['/admin/models', '/admin/models/latest', '/admin/models/3']) {
    respond = echo
    const viaBearer = await fetch(gateway.url + path, { headers: { authorization: `Bearer ${KEY}` } })
    assert.equal(viaBearer.status, 200, path)
    await viaBearer.text()
  }
})

test('an empty body is forwarded empty, with its content type', async () => {
  const { response, upstreamRequest } = await call('/predict', { method: 'POST', headers: { 'content-type': 'application/json' } })
  assert.equal(response.status, 200)
  assert.equal(upstreamRequest.body, '')
  assert.equal(upstreamRequest.headers['content-type'], 'application/json')
  assert.equal(upstreamRequest.headers['content-length'], '0')
})

test('?model= reaches the upstream on every JSON route and the event stream', async () => {
  const cases = [
    ['POST', '/predict?model=iris&version=1.0.0', '/predict?model=iris&version=1.0.0'],
    ['GET', '/admin/models?model=a.b_c-9', '/models?model=a.b_c-9'],
    ['GET', '/admin/models/latest?model=0', '/models/latest?model=0'],
    ['GET', `/admin/models/1.2.0?model=${'m'.repeat(64)}`, `/models/1.2.0?model=${'m'.repeat(64)}`],
    ['GET', '/admin/models?mod%65l=ir%69s', '/models?mod%65l=ir%69s']
  ]
  for (const [method, path, upstreamPath] of cases) {
    const { response, upstreamRequest } = await call(path, { method, body: method === 'POST' ? '{}' : undefined })
    assert.equal(response.status, 200, path)
    assert.equal(upstreamRequest.url, upstreamPath)
  }
  const seen = upstream.nextRequest()
  const stream = await fetch(`${gateway.url}/admin/events?model=iris&last_event_id=3`, { headers: withKey() })
  assert.equal(stream.status, 200)
  await stream.text()
  assert.equal((await seen).url, '/events?model=iris&last_event_id=3')
})

test('a model name that breaks the rule is a 400 JSON error, and nothing is sent upstream', async () => {
  const before = upstream.requests.length
  const bad = ['', 'Iris', '-iris', '.iris', '_x', 'a/b', 'a%2Fb', 'a b', 'ïris', 'm'.repeat(65), 'iris%0A', 'iris&model=other']
  const routes = [['POST', '/predict'], ['GET', '/admin/models'], ['GET', '/admin/models/latest'], ['GET', '/admin/models/1.0.0'], ['GET', '/admin/events']]
  for (const [method, path] of routes) {
    for (const name of bad) {
      const query = name.includes('&') ? name : encodeURIComponent(name).replace('%25', '%')
      const response = await fetch(`${gateway.url}${path}?model=${query}`, {
        method, headers: withKey({ 'x-request-id': 'bad-model', 'content-type': 'application/json' }), body: method === 'POST' ? '{}' : undefined
      })
      assert.equal(response.status, 400, `${method} ${path} model=${JSON.stringify(name)}`)
      const body = /** @type {{ error: string, request_id: string }} */ (await response.json())
      assert.equal(body.request_id, 'bad-model')
      assert.match(body.error, /model/)
    }
  }
  assert.equal(upstream.requests.length, before)
})
