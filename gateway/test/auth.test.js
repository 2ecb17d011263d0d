// @ts-check
// Authentication: every route but the gateway's /healthz needs a key.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startUpstream, startGateway, KEY, OTHER_KEY } from './helpers.js'

/** @type {import('./helpers.js').Upstream} */
let upstream
/** @type {import('./helpers.js').Gateway} */
let gateway

before(async () => {
  upstream = await startUpstream()
  gateway = await startGateway({ UPSTREAM_URL: upstream.url, API_KEYS: ` ${KEY} , ${OTHER_KEY} ` })
})
after(async () => {
  await gateway?.close()
  await upstream?.close()
})

/**
 * @param {string} path
 * @param {Record<string, string>} headers
 * @param {string} expectedError
 */
async function expect401 (path, headers, expectedError, method = 'GET') {
  const before = upstream.requests.length
  const response = await fetch(gateway.url + path, { method, headers: { 'x-request-id': 'auth-check', ...headers } })
  assert.equal(response.status, 401, `${method} ${path} ${JSON.stringify(headers)}`)
  assert.equal(response.headers.get('x-request-id'), 'auth-check')
  assert.deepEqual(await response.json(), { error: expectedError, request_id: 'auth-check' })
  assert.equal(upstream.requests.length, before, 'nothing reached the upstream')
}

const PROTECTED = [
  ['POST', '/predict'], ['GET', '/admin/models'], ['GET', '/admin/models/latest'],
  ['GET', '/admin/models/1'], ['GET', '/admin/events'], ['POST', '/admin/tokens']
]

test('no key: 401 on every protected route', async () => {
  for (const [method, path] of PROTECTED) await expect401(path, {}, 'missing API key', method)
})

test('wrong key: 401, through either header', async () => {
  for (const [method, path] of PROTECTED) {
    await expect401(path, { 'x-api-key': 'wrong-key' }, 'invalid API key', method)
    await expect401(path, { authorization: 'Bearer wrong-key' }, 'invalid API key', method)
  }
})

test('keys of a different length are compared safely and rejected', async () => {
  for (const candidate of ['x', KEY.slice(0, -1), KEY + 'x', KEY.repeat(20), OTHER_KEY.slice(1)]) {
    await expect401('/admin/models', { 'x-api-key': candidate }, 'invalid API key')
  }
})

test('non-Bearer Authorization schemes are not accepted', async () => {
  await expect401('/admin/models', { authorization: `Basic ${KEY}` }, 'missing API key')
  await expect401('/admin/models', { authorization: KEY }, 'missing API key')
})

test('right key: accepted via x-api-key and via Authorization: Bearer, for every configured key', async () => {
  for (const key of [KEY, OTHER_KEY]) {
    /** @type {Record<string, string>[]} */
    const ways = [{ 'x-api-key': key }, { authorization: `Bearer ${key}` }]
    for (const headers of ways) {
      const response = await fetch(`${gateway.url}/admin/models`, { headers })
      assert.equal(response.status, 200)
      assert.equal(/** @type {{ url: string }} */ (await response.json()).url, '/models')
    }
  }
})

test('unknown routes need a key too (401 before 404)', async () => {
  await expect401('/nope', {}, 'missing API key')
  await expect401('/admin', { 'x-api-key': 'wrong' }, 'invalid API key')
  const known = await fetch(`${gateway.url}/nope`, { headers: { 'x-api-key': KEY } })
  assert.equal(known.status, 404)
})

test('the gateway\'s own /healthz is public and does not call the upstream', async () => {
  const before = upstream.requests.length
  /** @type {Record<string, string>[]} */
  const ways = [{}, { 'x-api-key': 'wrong' }]
  for (const headers of ways) {
    const response = await fetch(`${gateway.url}/healthz`, { headers })
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { status: 'ok' })
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/)
  }
  assert.equal(upstream.requests.length, before)
})

test('keys from API_KEYS_FILE, with comments and blank lines ignored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-keys-'))
  const file = join(dir, 'keys')
  await writeFile(file, '# gateway keys\n\nfile-key-number-one\n  file-key-number-two  \n# retired-key-number-3\n')
  const fromFile = await startGateway({ UPSTREAM_URL: upstream.url, API_KEYS: '', API_KEYS_FILE: file })
  t.after(async () => { await fromFile.close(); await rm(dir, { recursive: true }) })

  for (const key of ['file-key-number-one', 'file-key-number-two']) {
    const response = await fetch(`${fromFile.url}/admin/models`, { headers: { 'x-api-key': key } })
    assert.equal(response.status, 200, key)
    await response.text()
  }
  for (const key of ['# gateway keys', '# retired-key-number-3', 'retired-key-number-3', KEY]) {
    const response = await fetch(`${fromFile.url}/admin/models`, { headers: { 'x-api-key': key } })
    assert.equal(response.status, 401, key)
    await response.text()
  }
})
