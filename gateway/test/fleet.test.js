// @ts-check
// UPSTREAM_URLS against real upstream servers on 127.0.0.1: round-robin, the
// /readyz health checks (an upstream that goes down is skipped, and used
// again once it recovers), the gateway's /readyz, and the one retry on
// another upstream after a refused connection, for idempotent requests only.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { closeServer, logCollector, openStream, portOf, startGateway, startUpstream, withKey } from './helpers.js'

const ADMIN_KEY = 'admin-key-0123456789abcdef'
const ADMIN = { ADMIN_API_KEYS: ADMIN_KEY, REGWATCH_ADMIN_TOKEN: 'api-admin-token-0123456789' }
// Long enough that no check runs during a test, once the first one passed.
const NO_MORE_CHECKS = '3600000'

/**
 * `count` upstreams answering `{"upstream": i}` (SSE on /events).
 * @param {import('node:test').TestContext} t
 * @param {number} count
 */
async function startUpstreams (t, count) {
  const upstreams = await Promise.all(Array.from({ length: count }, (_, index) => startUpstream((req, res) => {
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: {"upstream": ${index}}\n\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ upstream: index }))
  })))
  t.after(() => Promise.all(upstreams.map((upstream) => upstream.close())))
  return upstreams
}

/**
 * @param {import('node:test').TestContext} t
 * @param {import('./helpers.js').Upstream[]} upstreams
 * @param {Record<string, string>} [env]
 */
async function startFleetGateway (t, upstreams, env = {}) {
  const logs = logCollector()
  // A check gets 5 s: a loaded machine must not make an upstream flap mid-test.
  const gateway = await startGateway({
    UPSTREAM_URLS: upstreams.map(({ url }) => url).join(','), HEALTH_TIMEOUT_MS: '5000', LOG_LEVEL: 'info', ...env
  }, { logStream: logs.stream })
  t.after(() => gateway.close())
  return { gateway, logs }
}

/**
 * Which upstream answered each request (GET unless a body is given: then POST).
 * @param {import('./helpers.js').Gateway} gateway
 * @param {string[]} paths
 * @param {Record<string, string>} [headers]
 */
async function answeredBy (gateway, paths, headers = {}) {
  const answers = []
  for (const path of paths) {
    const post = !path.startsWith('/admin/models')
    const response = await fetch(gateway.url + path, {
      method: post ? 'POST' : 'GET',
      headers: withKey({ 'content-type': 'application/json', ...headers }),
      body: post ? '{"instances": [[1, 2, 3, 4]]}' : undefined
    })
    assert.equal(response.status, 200, path)
    answers.push(/** @type {{ upstream: number }} */ (await response.json()).upstream)
  }
  return answers
}

/**
 * The messages of the gateway's log lines about `upstream`.
 * @param {{ lines: string[] }} logs
 * @param {import('./helpers.js').Upstream} upstream
 */
const healthLog = (logs, upstream) => logs.lines.map((line) => JSON.parse(line))
  .filter((entry) => entry.upstream === upstream.url && /^upstream (un)?healthy$/.test(entry.msg))
  .map((entry) => entry.msg)

/**
 * Resolves with the next health flip the gateway records for `upstream`.
 * @param {import('./helpers.js').Gateway} gateway
 * @param {import('./helpers.js').Upstream} upstream
 * @returns {Promise<import('../src/lib/upstream-pool.js').HealthChange>}
 */
async function nextChange (gateway, upstream) {
  for (;;) {
    const [change] = await once(gateway.app.upstreams, 'change')
    if (change.origin === upstream.url) return change
  }
}

test('requests go round-robin over three upstreams, across routes', { timeout: 10_000 }, async (t) => {
  const upstreams = await startUpstreams(t, 3)
  const { gateway } = await startFleetGateway(t, upstreams)
  const paths = ['/admin/models', '/predict', '/admin/models/latest', '/admin/models', '/v2/models/iris/infer', '/predict']
  assert.deepEqual(await answeredBy(gateway, paths), [0, 1, 2, 0, 1, 2])
})

test('an upstream that goes down is skipped after its failed check, logged once, and used again once it recovers', { timeout: 10_000 }, async (t) => {
  const upstreams = await startUpstreams(t, 3)
  const [first, down, third] = upstreams
  const { gateway, logs } = await startFleetGateway(t, upstreams, { HEALTH_INTERVAL_MS: '20' })
  const paths = Array(6).fill('/admin/models')

  const unhealthy = nextChange(gateway, down)
  await down.stop()
  // Refused, or reset if a check was under way when it stopped.
  const { reason, ...change } = await unhealthy
  assert.deepEqual(change, { origin: down.url, healthy: false })
  assert.deepEqual(await answeredBy(gateway, paths), [0, 2, 0, 2, 0, 2])
  const readyz = await fetch(`${gateway.url}/readyz`)
  assert.equal(readyz.status, 200)
  assert.deepEqual(await readyz.json(), { status: 'ready', upstreams: { healthy: 2, total: 3 } })

  // Three more checks of a live upstream, while the down one kept failing its own: logged once.
  for (let round = 0; round < 3; round++) await first.nextCheck()
  assert.deepEqual(healthLog(logs, down), ['upstream unhealthy'])

  const healthy = nextChange(gateway, down)
  await down.restart()
  assert.deepEqual(await healthy, { origin: down.url, healthy: true })
  assert.deepEqual(new Set(await answeredBy(gateway, paths)), new Set([0, 1, 2]))
  assert.deepEqual(healthLog(logs, down), ['upstream unhealthy', 'upstream healthy'])
  const warning = logs.lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'upstream unhealthy')
  assert.equal(warning.reason, reason)

  // Up but not ready (the API's /readyz is 503 until a model serves): skipped too.
  const notReady = nextChange(gateway, third)
  third.readiness.ready = false
  assert.deepEqual(await notReady, { origin: third.url, healthy: false, reason: '/readyz answered 503' })
  assert.deepEqual(new Set(await answeredBy(gateway, paths)), new Set([0, 1]))
})

test('with no healthy upstream, requests still go to all of them, and the gateway is not ready', { timeout: 10_000 }, async (t) => {
  const upstreams = await startUpstreams(t, 2)
  for (const upstream of upstreams) upstream.readiness.ready = false
  const { gateway } = await startFleetGateway(t, upstreams, { HEALTH_INTERVAL_MS: NO_MORE_CHECKS })
  assert.deepEqual(await answeredBy(gateway, ['/admin/models', '/admin/models', '/predict']), [0, 1, 0])
  const readyz = await fetch(`${gateway.url}/readyz`)
  assert.equal(readyz.status, 503)
  assert.deepEqual(await readyz.json(), { status: 'not ready', upstreams: { healthy: 0, total: 2 } })
})

test('a readiness check that gets no answer is bounded, and the upstream counts as unhealthy', { timeout: 10_000 }, async (t) => {
  const [live] = await startUpstreams(t, 1)
  const mute = http.createServer(() => { /* never answers */ })
  mute.listen(0, '127.0.0.1')
  await once(mute, 'listening')
  t.after(() => closeServer(mute))
  const muteUrl = `http://127.0.0.1:${portOf(mute)}`

  const logs = logCollector()
  // The first checks run before the gateway listens: they end within HEALTH_TIMEOUT_MS.
  const gateway = await startGateway({ UPSTREAM_URLS: `${muteUrl},${live.url}`, HEALTH_TIMEOUT_MS: '200', LOG_LEVEL: 'info' }, { logStream: logs.stream })
  t.after(() => gateway.close())
  assert.deepEqual(gateway.app.upstreams.counts(), { healthy: 1, total: 2 })
  const warning = logs.lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'upstream unhealthy')
  assert.deepEqual({ upstream: warning.upstream, reason: warning.reason }, { upstream: muteUrl, reason: 'no answer within 200 ms' })
  assert.deepEqual(await answeredBy(gateway, ['/admin/models', '/admin/models']), [0, 0])
})

test('each event stream goes to one upstream, a healthy one', { timeout: 10_000 }, async (t) => {
  const upstreams = await startUpstreams(t, 3)
  upstreams[1].readiness.ready = false
  const { gateway } = await startFleetGateway(t, upstreams, { HEALTH_INTERVAL_MS: NO_MORE_CHECKS })
  for (const expected of [0, 2, 0]) {
    const stream = await openStream(`${gateway.url}/admin/events`, withKey())
    t.after(() => stream.close())
    assert.equal(stream.status, 200)
    await stream.until((text) => text.includes(`data: {"upstream": ${expected}}`))
  }
  assert.equal(upstreams[1].requests.length, 0)
})

/**
 * A gateway over `count` upstreams that all passed the first check, of which
 * the first `dead` were then stopped: the gateway still believes them healthy,
 * so the next request goes to the first one and is refused.
 * @param {import('node:test').TestContext} t
 */
async function withDeadFirst (t, count = 2, dead = 1) {
  const upstreams = await startUpstreams(t, count)
  const { gateway, logs } = await startFleetGateway(t, upstreams, { HEALTH_INTERVAL_MS: NO_MORE_CHECKS, ...ADMIN })
  for (const upstream of upstreams.slice(0, dead)) await upstream.stop()
  return { upstreams, gateway, logs }
}

test('a refused connection is retried once on another upstream for GET, HEAD, /predict and V2 infer', { timeout: 10_000 }, async (t) => {
  /** @type {[string, string, Record<string, string>][]} */
  const cases = [
    ['GET', '/admin/models?model=iris', {}],
    ['HEAD', '/admin/models/latest', {}],
    ['GET', '/admin/release/history', { 'x-api-key': ADMIN_KEY }],
    ['POST', '/predict?model=iris', {}],
    ['POST', '/v2/models/iris/infer', {}],
    ['POST', '/v2/models/iris/versions/1.0.0/infer', {}]
  ]
  for (const [method, path, headers] of cases) {
    const { upstreams: [, live], gateway, logs } = await withDeadFirst(t)
    const body = method === 'POST' ? '{"instances": [[1, 2, 3, 4]]}' : undefined
    const response = await fetch(gateway.url + path, { method, headers: withKey({ 'content-type': 'application/json', ...headers }), body })
    assert.equal(response.status, 200, `${method} ${path}`)
    assert.deepEqual(live.requests.map((request) => [request.method, request.url, request.body]), [[method, path.replace('/admin', ''), body ?? '']])
    await response.arrayBuffer()

    const entries = logs.lines.map((line) => JSON.parse(line))
    assert.ok(entries.some((entry) => entry.msg === 'connection refused: retrying on another upstream' && entry.upstream === live.url))
    // The refusal marked the dead upstream unhealthy: the next request goes straight to the live one.
    assert.deepEqual(gateway.app.upstreams.counts(), { healthy: 1, total: 2 })
  }
})

test('other POSTs, PUT and DELETE are not retried: 502', { timeout: 10_000 }, async (t) => {
  /** @type {[string, string][]} */
  const cases = [
    ['POST', '/admin/release/promote'], ['PUT', '/admin/release/aliases/prod'],
    ['DELETE', '/admin/release/canary'], ['POST', '/v2/repository/index']
  ]
  for (const [method, path] of cases) {
    const { upstreams: [, live], gateway, logs } = await withDeadFirst(t)
    const response = await fetch(gateway.url + path, {
      method, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, body: '{"version": "1.0.0"}'
    })
    assert.equal(response.status, 502, `${method} ${path}`)
    assert.equal(/** @type {{ error: string }} */ (await response.json()).error, 'upstream unavailable')
    assert.equal(live.requests.length, 0, `${method} ${path} was not sent again`)
    for (const secret of [ADMIN_KEY, ADMIN.REGWATCH_ADMIN_TOKEN]) {
      assert.equal(logs.lines.some((line) => line.includes(secret)), false, 'a failed release request logs no secret')
    }
  }
})

test('the retry happens once: a second refusal is a 502', { timeout: 10_000 }, async (t) => {
  const { upstreams: [, , third], gateway } = await withDeadFirst(t, 3, 2)
  const response = await fetch(`${gateway.url}/admin/models`, { headers: withKey() })
  assert.equal(response.status, 502)
  await response.arrayBuffer()
  assert.equal(third.requests.length, 0)
  assert.deepEqual(await answeredBy(gateway, ['/admin/models']), [2], 'both refusals were remembered')
})

test('a redirect from any upstream points at the gateway\'s path, never at that upstream', { timeout: 10_000 }, async (t) => {
  // Like Starlette's trailing-slash redirect: an absolute URL built from the Host it was sent.
  /** @type {import('./helpers.js').UpstreamHandler} */
  const redirect = (req, res) => { res.writeHead(307, { location: `http://${req.headers.host}/models?model=iris`, 'content-length': '0' }).end() }
  const upstreams = [await startUpstream(redirect), await startUpstream(redirect)]
  t.after(() => Promise.all(upstreams.map((upstream) => upstream.close())))
  const { gateway } = await startFleetGateway(t, upstreams)
  for (const upstream of upstreams) {
    const response = await fetch(`${gateway.url}/admin/models/?model=iris`, { headers: withKey(), redirect: 'manual' })
    assert.equal(response.status, 307)
    assert.equal(response.headers.get('location'), '/admin/models?model=iris')
    assert.equal(upstream.requests.length, 1, 'one request to each upstream')
  }
})
