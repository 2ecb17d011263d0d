// @ts-check
// Unit tests of the small pure modules: keys, tokens, query masking, request ids.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createKeyMatcher } from '../src/lib/api-keys.js'
import { issueToken, verifyToken } from '../src/lib/tokens.js'
import { queryWithout, maskQueryParam } from '../src/lib/query.js'
import { genReqId } from '../src/lib/request-id.js'
import { presentedKey } from '../src/lib/api-keys.js'

test('key matcher accepts configured keys only, whatever the candidate length, and says whose key it is', () => {
  const match = createKeyMatcher(['alpha-key', 'a-much-longer-beta-key-value'], ['admin-gamma-key'])
  const id = (/** @type {string} */ key) => `key:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`
  assert.deepEqual(match('alpha-key'), { id: id('alpha-key'), admin: false })
  assert.deepEqual(match('a-much-longer-beta-key-value'), { id: id('a-much-longer-beta-key-value'), admin: false })
  assert.deepEqual(match('admin-gamma-key'), { id: id('admin-gamma-key'), admin: true })
  assert.match(id('alpha-key'), /^key:[0-9a-f]{12}$/)
  for (const wrong of ['alpha-ke', 'x', 'alpha-key'.repeat(100), '', undefined, 'admin-gamma-ke']) {
    assert.equal(match(wrong), undefined, String(wrong))
  }
})

test('presented key: x-api-key first, then a Bearer authorization', () => {
  assert.equal(presentedKey({ 'x-api-key': 'k1', authorization: 'Bearer k2' }), 'k1')
  assert.equal(presentedKey({ authorization: 'Bearer k2' }), 'k2')
  assert.equal(presentedKey({ authorization: 'bearer   k2 ' }), 'k2')
  assert.equal(presentedKey({ authorization: 'Basic k2' }), undefined)
  assert.equal(presentedKey({}), undefined)
})

test('tokens: valid until expiry, bound to secret and scope, tamper-evident', () => {
  const secret = 'x'.repeat(32)
  const now = 1_700_000_000
  const { token, expiresIn } = issueToken({ secret, ttlS: 60, now })
  assert.equal(expiresIn, 60)
  assert.equal(verifyToken(token, { secret, now }), true)
  assert.equal(verifyToken(token, { secret, now: now + 59 }), true)
  assert.equal(verifyToken(token, { secret, now: now + 60 }), false, 'expired')
  assert.equal(verifyToken(token, { secret: 'y'.repeat(32), now }), false, 'other secret')
  assert.equal(verifyToken(token, { secret, now, scope: 'other' }), false, 'other scope')

  const [expiry, nonce, signature] = token.split('.')
  assert.equal(verifyToken(`${Number(expiry) + 3600}.${nonce}.${signature}`, { secret, now }), false, 'extended expiry')
  const flipped = signature[10] === 'A' ? 'B' : 'A'
  assert.equal(verifyToken(`${expiry}.${nonce}.${signature.slice(0, 10)}${flipped}${signature.slice(11)}`, { secret, now }), false, 'altered signature')
  for (const junk of ['', 'a.b.c', `${expiry}.${nonce}`, `${token}.x`, 42, null]) {
    assert.equal(verifyToken(junk, { secret, now }), false, `junk ${junk}`)
  }
})

test('query helpers drop or mask one parameter, even percent-encoded', () => {
  assert.equal(queryWithout('/e?token=abc&last_event_id=5', 'token'), 'last_event_id=5')
  assert.equal(queryWithout('/e?a=1&tok%65n=abc&b=2', 'token'), 'a=1&b=2')
  assert.equal(queryWithout('/e?token=abc', 'token'), '')
  assert.equal(queryWithout('/e', 'token'), '')
  assert.equal(queryWithout('/e?tokens=1&my_token=2', 'token'), 'tokens=1&my_token=2')
  assert.equal(maskQueryParam('/e?token=abc&x=1', 'token'), '/e?token=[redacted]&x=1')
  assert.equal(maskQueryParam('/e?x=1&%74oken=abc', 'token'), '/e?x=1&%74oken=[redacted]')
  assert.equal(maskQueryParam('/e?x=%E0%A4%A', 'token'), '/e?x=%E0%A4%A')
  assert.equal(maskQueryParam('/e', 'token'), '/e')
})

test('request ids: sane incoming ids are kept, anything else is replaced by a UUID', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  const idFor = (/** @type {string | string[] | undefined} */ value) => genReqId({ headers: value === undefined ? {} : { 'x-request-id': value } })
  assert.equal(idFor('abc-123_x.y:z'), 'abc-123_x.y:z')
  assert.equal(idFor('a'.repeat(128)), 'a'.repeat(128))
  for (const insane of [undefined, '', 'a'.repeat(129), 'has space', 'line\nbreak', 'tab\there', 'semi;colon', 'ünïcode', ['a', 'b']]) {
    assert.match(idFor(insane), uuid, `replaced: ${JSON.stringify(insane)}`)
  }
})
