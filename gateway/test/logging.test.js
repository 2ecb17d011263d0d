// @ts-check
// Log hygiene: neither an API key nor an SSE token ever appears in a log line,
// while every request-scoped line carries the request id.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { startUpstream, startGateway, logCollector, openStream, KEY } from './helpers.js'

test('logs carry request ids and never keys or tokens', { timeout: 10_000 }, async (t) => {
  const upstream = await startUpstream((req, res) => {
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('id: 1\ndata: hello\n\n')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
  t.after(() => upstream.close())
  const logs = logCollector()
  const gateway = await startGateway({ UPSTREAM_URL: upstream.url, LOG_LEVEL: 'trace' }, { logStream: logs.stream })

  const wrongKey = 'wrong-key-that-must-not-be-logged-either'
  /**
   * @param {string} path
   * @param {RequestInit} init
   */
  const send = (path, init) => fetch(gateway.url + path, init).then(async (response) => {
    await response.text()
    return response
  })
  await send('/predict?version=1', { method: 'POST', headers: { 'x-api-key': KEY, 'x-request-id': 'log-predict', 'content-type': 'application/json' }, body: '{"instances":[[1]]}' })
  await send('/admin/models', { headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'log-bearer' } })
  await send('/admin/models', { headers: { 'x-api-key': wrongKey, 'x-request-id': 'log-wrong' } })
  const tokenResponse = await fetch(`${gateway.url}/admin/tokens`, { method: 'POST', headers: { 'x-api-key': KEY, 'x-request-id': 'log-token' } })
  const { token } = /** @type {{ token: string }} */ (await tokenResponse.json())

  // Open the stream with the token (plain and percent-encoded name), read, disconnect.
  for (const [id, param] of [['log-sse', 'token'], ['log-sse-encoded', 'tok%65n']]) {
    const seen = upstream.nextRequest()
    const stream = await openStream(`${gateway.url}/admin/events?${param}=${encodeURIComponent(token)}&last_event_id=0`, { 'x-request-id': id })
    assert.equal(stream.status, 200, param)
    await stream.until((text) => text.includes('data: hello'))
    const { res, url } = await seen
    assert.equal(url, '/events?last_event_id=0', 'token not sent upstream')
    const closed = once(res, 'close')
    stream.close()
    await closed
  }
  // Expired/garbage token: rejected, and not logged either.
  await send(`/admin/events?token=${encodeURIComponent(token + 'x')}`, { headers: { 'x-request-id': 'log-badtoken' } })
  await gateway.close()

  assert.ok(logs.lines.length > 10, 'something was logged')
  const secrets = [KEY, wrongKey, token, encodeURIComponent(token), token.split('.')[2]]
  for (const line of logs.lines) {
    for (const secret of secrets) assert.equal(line.includes(secret), false, `secret leaked in: ${line}`)
  }

  const entries = logs.lines.map((line) => JSON.parse(line))
  const requestScoped = entries.filter((entry) => entry.req || entry.res || /request|response|fetching|rejected|stream/.test(entry.msg))
  assert.ok(requestScoped.length > 0)
  for (const entry of requestScoped) assert.equal(typeof entry.request_id, 'string', `no request_id: ${JSON.stringify(entry)}`)

  for (const id of ['log-predict', 'log-bearer', 'log-wrong', 'log-token', 'log-sse', 'log-sse-encoded', 'log-badtoken']) {
    const lines = entries.filter((entry) => entry.request_id === id)
    assert.ok(lines.some((entry) => entry.msg === 'incoming request'), `incoming request logged for ${id}`)
  }
  const sseLine = entries.find((entry) => entry.request_id === 'log-sse' && entry.req)
  assert.equal(sseLine.req.url, '/admin/events?token=[redacted]&last_event_id=0')
})
