// @ts-check
// Release over HTTP: /admin/release… reaches the API's /release… for admin
// keys only, with the gateway's REGWATCH_ADMIN_TOKEN and the caller's key id
// as the actor; what callers send in those headers never reaches the API.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { echoHandler, KEY, logCollector, startGateway, startUpstream } from './helpers.js'

const ADMIN_KEY = 'admin-key-0123456789abcdef'
const OTHER_ADMIN_KEY = 'another-admin-key-with-more-characters'
const ADMIN_TOKEN = 'the-api-admin-token-0123456789'
/** The id the API's audit trail gets for a key. */
const keyId = (/** @type {string} */ key) => `key:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`

/** @type {import('./helpers.js').Upstream} */
let upstream
/** @type {import('./helpers.js').Gateway} */
let gateway
const logs = logCollector()
/** @type {import('./helpers.js').UpstreamHandler} the upstream's answer; the echo unless a test sets another */
let respond = echoHandler

before(async () => {
  upstream = await startUpstream((req, res, body) => respond(req, res, body))
  gateway = await startGateway({
    UPSTREAM_URL: upstream.url,
    ADMIN_API_KEYS: `${ADMIN_KEY},${OTHER_ADMIN_KEY}`,
    REGWATCH_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'trace'
  }, { logStream: logs.stream })
})
after(async () => {
  await gateway?.close()
  await upstream?.close()
})

/**
 * Sends one request; returns the response and what reached the upstream, if anything.
 * @param {string} method
 * @param {string} path
 * @param {Record<string, string>} headers
 * @param {string} [body]
 */
async function send (method, path, headers, body) {
  const before = upstream.requests.length
  const response = await fetch(gateway.url + path, { method, headers: { 'content-type': 'application/json', ...headers }, body })
  const text = await response.text()
  return { status: response.status, text, forwarded: upstream.requests.slice(before) }
}

// The contract's routes, gateway side.
/** @type {[string, string, string | undefined][]} */
const ROUTES = [
  ['GET', '/admin/release', undefined],
  ['GET', '/admin/release/history?model=iris', undefined],
  ['POST', '/admin/release/promote?model=iris', '{"version": "1.2.0"}'],
  ['POST', '/admin/release/rollback', '{}'],
  ['POST', '/admin/release/follow-latest', '{}'],
  ['POST', '/admin/release/canary', '{"version": "1.3.0", "percent": 10}'],
  ['DELETE', '/admin/release/canary', undefined],
  ['POST', '/admin/release/shadow', '{"version": "1.3.0"}'],
  ['DELETE', '/admin/release/shadow?model=iris', undefined],
  ['PUT', '/admin/release/aliases/prod', '{"version": "1.2.0"}'],
  ['DELETE', '/admin/release/aliases/prod', undefined]
]

test('an admin key reaches every release route, with the API token and its key id as the actor', async () => {
  for (const adminKey of [ADMIN_KEY, OTHER_ADMIN_KEY]) {
    for (const [method, path, body] of ROUTES) {
      const { status, forwarded } = await send(method, path, { 'x-api-key': adminKey }, body)
      assert.equal(status, 200, `${method} ${path}`)
      assert.equal(forwarded.length, 1)
      const [request] = forwarded
      assert.equal(request.method, method)
      assert.equal(request.url, path.replace('/admin/release', '/release'), 'path and query string')
      assert.equal(request.body, body ?? '', 'body byte for byte')
      assert.equal(request.headers.authorization, `Bearer ${ADMIN_TOKEN}`)
      assert.equal(request.headers['x-regwatch-actor'], keyId(adminKey))
      assert.equal(request.headers['x-api-key'], undefined)
    }
  }
})

test('what the caller sends as Authorization or X-Regwatch-Actor never reaches the API', async () => {
  // The admin key in Authorization: Bearer is replaced by the API token.
  const viaBearer = await send('POST', '/admin/release/rollback', { authorization: `Bearer ${ADMIN_KEY}`, 'x-regwatch-actor': 'mallory' }, '{}')
  assert.equal(viaBearer.status, 200)
  assert.equal(viaBearer.forwarded[0].headers.authorization, `Bearer ${ADMIN_TOKEN}`)
  assert.equal(viaBearer.forwarded[0].headers['x-regwatch-actor'], keyId(ADMIN_KEY))

  const forged = await send('GET', '/admin/release', { 'x-api-key': ADMIN_KEY, authorization: 'Bearer forged-token', 'x-regwatch-actor': 'mallory' })
  assert.equal(forged.forwarded[0].headers.authorization, `Bearer ${ADMIN_TOKEN}`)
  assert.equal(forged.forwarded[0].headers['x-regwatch-actor'], keyId(ADMIN_KEY))
})

test('the token and the actor go upstream on /admin/release… only; admin keys may use every route', async () => {
  /** @type {[string, string, string | undefined][]} */
  const others = [['GET', '/admin/models', undefined], ['POST', '/predict', '{"instances": [[1]]}'], ['GET', '/v2/health/ready', undefined]]
  for (const key of [ADMIN_KEY, KEY]) {
    for (const [method, path, body] of others) {
      const { status, forwarded } = await send(method, path, { 'x-api-key': key, authorization: 'Bearer forged', 'x-regwatch-actor': 'mallory' }, body)
      assert.equal(status, 200, `${method} ${path}`)
      assert.equal(forwarded[0].headers.authorization, undefined, `${method} ${path}`)
      assert.equal(forwarded[0].headers['x-regwatch-actor'], undefined, `${method} ${path}`)
    }
  }
})

test('a prediction key gets 403 on every release route, no key or a wrong one 401; nothing reaches the API', async () => {
  /** @type {[string, string, string | undefined][]} */
  const routes = [...ROUTES, ['GET', '/admin/release/no-such-route', undefined]]
  for (const [method, path, body] of routes) {
    const forbidden = await send(method, path, { 'x-api-key': KEY, 'x-request-id': 'rel-403' }, body)
    assert.equal(forbidden.status, 403, `${method} ${path}`)
    assert.deepEqual(JSON.parse(forbidden.text), { error: 'an admin key is required for the release routes', request_id: 'rel-403' })
    const viaBearer = await send(method, path, { authorization: `Bearer ${KEY}` }, body)
    assert.equal(viaBearer.status, 403)

    for (const [headers, error] of /** @type {[Record<string, string>, string][]} */ ([
      [{}, 'missing API key'], [{ 'x-api-key': 'wrong-key-0123456789' }, 'invalid API key'], [{ authorization: `Bearer ${ADMIN_TOKEN}` }, 'invalid API key']
    ])) {
      const refused = await send(method, path, headers, body)
      assert.equal(refused.status, 401, `${method} ${path} ${JSON.stringify(headers)}`)
      assert.equal(JSON.parse(refused.text).error, error)
    }
    assert.equal(forbidden.forwarded.length + viaBearer.forwarded.length, 0)
  }
})

test('the API\'s answers pass through: 409 and 422 with their detail', async (t) => {
  t.after(() => { respond = echoHandler })
  for (const [status, detail] of /** @type {[number, string][]} */ ([[409, 'version 9.9.9 is not in the registry'], [422, 'percent must be between 0 and 100']])) {
    respond = (req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ detail }))
    const answer = await send('POST', '/admin/release/canary', { 'x-api-key': ADMIN_KEY }, '{"version": "9.9.9", "percent": 500}')
    assert.equal(answer.status, status)
    assert.deepEqual(JSON.parse(answer.text), { detail })
  }
})

test('a path that climbs out of /release is refused at the gateway', async () => {
  const before = upstream.requests.length
  for (const path of ['/admin/release/%2e%2e/models', '/admin/release/../models', '/admin/release/aliases/..%2F..%2Fmodels']) {
    // As written: fetch() would resolve the dot segments before sending.
    const request = http.get(gateway.url, { path, headers: { 'x-api-key': ADMIN_KEY } })
    const [response] = /** @type {[http.IncomingMessage]} */ (await once(request, 'response'))
    response.resume()
    assert.ok(response.statusCode === 400 || response.statusCode === 404, `${path}: ${response.statusCode}`)
  }
  assert.equal(upstream.requests.length, before, 'nothing reached the upstream')
})

test('neither keys nor the API token are ever logged; the actor is', async () => {
  await send('POST', '/admin/release/promote', { 'x-api-key': ADMIN_KEY, 'x-request-id': 'rel-log' }, '{"version": "1.0.0"}')
  await send('POST', '/admin/release/promote', { 'x-api-key': KEY }, '{"version": "1.0.0"}')
  assert.ok(logs.lines.length > 10)
  for (const line of logs.lines) {
    for (const secret of [ADMIN_KEY, OTHER_ADMIN_KEY, KEY, ADMIN_TOKEN]) assert.equal(line.includes(secret), false, `secret leaked in: ${line}`)
  }
  const entries = logs.lines.map((line) => JSON.parse(line))
  assert.ok(entries.some((entry) => entry.request_id === 'rel-log' && entry.msg === 'release request' && entry.actor === keyId(ADMIN_KEY)))
})

test('without ADMIN_API_KEYS every key gets 403 on /admin/release', async (t) => {
  const plain = await startGateway({ UPSTREAM_URL: upstream.url })
  t.after(() => plain.close())
  const response = await fetch(`${plain.url}/admin/release`, { headers: { 'x-api-key': KEY } })
  assert.equal(response.status, 403)
  await response.arrayBuffer()
})

test('admin keys and the API token from secret files (compose secrets): release works, nothing is logged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-admin-secrets-'))
  const fileLogs = logCollector()
  const keysFile = join(dir, 'admin_api_keys')
  const tokenFile = join(dir, 'admin_token')
  await writeFile(keysFile, `# operators\n${OTHER_ADMIN_KEY}\n`)
  await writeFile(tokenFile, `${ADMIN_TOKEN}\n`)
  const fromFiles = await startGateway({
    UPSTREAM_URL: upstream.url,
    ADMIN_API_KEYS_FILE: keysFile,
    REGWATCH_ADMIN_TOKEN_FILE: tokenFile,
    LOG_LEVEL: 'trace'
  }, { logStream: fileLogs.stream })
  t.after(async () => { await fromFiles.close(); await rm(dir, { recursive: true }) })

  const promote = async (/** @type {string} */ key) => {
    const before = upstream.requests.length
    const response = await fetch(`${fromFiles.url}/admin/release/promote?model=iris`, {
      method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: '{"version": "1.2.0"}'
    })
    await response.arrayBuffer()
    return { status: response.status, forwarded: upstream.requests.slice(before) }
  }
  const admitted = await promote(OTHER_ADMIN_KEY)
  assert.equal(admitted.status, 200)
  assert.equal(admitted.forwarded.length, 1)
  assert.equal(admitted.forwarded[0].url, '/release/promote?model=iris')
  assert.equal(admitted.forwarded[0].headers.authorization, `Bearer ${ADMIN_TOKEN}`, 'the token of the file, without its newline')
  assert.equal(admitted.forwarded[0].headers['x-regwatch-actor'], keyId(OTHER_ADMIN_KEY))
  assert.deepEqual(await promote(KEY), { status: 403, forwarded: [] }, 'a prediction key still cannot release')
  assert.deepEqual(await promote(ADMIN_KEY), { status: 401, forwarded: [] }, 'only the file\'s admin keys count')
  for (const line of fileLogs.lines) {
    for (const secret of [OTHER_ADMIN_KEY, ADMIN_TOKEN]) assert.equal(line.includes(secret), false, `secret leaked in: ${line}`)
  }
})
