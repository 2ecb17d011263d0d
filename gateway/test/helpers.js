// @ts-check
// Shared test fixtures: a real upstream HTTP server and a real gateway, both
// listening on 127.0.0.1 with ephemeral ports, closed by the test that made them.
import http from 'node:http'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { loadConfig } from '../src/config.js'
import { buildApp } from '../src/app.js'

export const KEY = 'test-key-0123456789abcdef'
export const OTHER_KEY = 'second-key-with-a-rather-longer-value-than-the-first-one'
export const TOKEN_SECRET = 's'.repeat(40)

/** @typedef {(req: http.IncomingMessage, res: http.ServerResponse, body: string) => void} UpstreamHandler */
/**
 * @typedef {{ method: string | undefined, url: string | undefined, headers: http.IncomingHttpHeaders,
 *   body: string, req: http.IncomingMessage, res: http.ServerResponse }} UpstreamRequest
 */
/**
 * @typedef {{ url: string, requests: UpstreamRequest[], nextRequest: () => Promise<UpstreamRequest>,
 *   readiness: { ready: boolean, checks: number }, nextCheck: () => Promise<void>,
 *   stop: () => Promise<void>, restart: () => Promise<void>, close: () => Promise<void> }} Upstream
 */
/**
 * @typedef {{ app: import('fastify').FastifyInstance, config: import('../src/config.js').Config,
 *   url: string, close: () => Promise<void> }} Gateway
 */

/**
 * The port of a server listening on TCP.
 * @param {import('node:net').Server} server
 */
export function portOf (server) {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP')
  return address.port
}

/**
 * Starts an upstream whose `handler(req, res, body)` runs once the request body
 * is read. Every request is recorded in `requests` and announced on `seen`,
 * except the gateway's health checks: `GET /readyz` answers 200 while
 * `readiness.ready` (else 503), counted in `readiness.checks` and announced
 * on `checked`. `stop()` closes it (connections refused), `restart()` listens
 * again on the same port.
 * @param {UpstreamHandler} [handler]
 * @returns {Promise<Upstream>}
 */
export async function startUpstream (handler = echoHandler) {
  /** @type {UpstreamRequest[]} */
  const requests = []
  const readiness = { ready: true, checks: 0 }
  const server = http.createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/readyz') {
      readiness.checks += 1
      res.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status: readiness.ready ? 'ready' : 'not ready' }))
      server.emit('checked')
      return
    }
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const record = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), req, res }
    requests.push(record)
    server.emit('seen', record)
    handler(req, res, record.body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = portOf(server)
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    // Resolves with the next request the upstream receives.
    nextRequest: () => once(server, 'seen').then(([record]) => record),
    readiness,
    // Resolves once the upstream answered its next readiness check.
    nextCheck: () => once(server, 'checked').then(() => undefined),
    stop: () => closeServer(server),
    restart: async () => {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    },
    close: () => (server.listening ? closeServer(server) : Promise.resolve())
  }
}

/**
 * Answers 200 with a JSON description of what it received.
 * @type {UpstreamHandler}
 */
export function echoHandler (req, res, body) {
  res.writeHead(200, { 'content-type': 'application/json', 'x-model-version': '7' })
  res.end(JSON.stringify({ method: req.method, url: req.url, body, headers: req.headers }))
}

/**
 * Stops accepting first, then cuts every connection: the other order lets a
 * connection made in between keep the server answering until it idles out.
 * @param {http.Server} server
 */
export async function closeServer (server) {
  const closed = new Promise((resolve) => server.close(resolve))
  server.closeAllConnections()
  await closed
}

/** A port on 127.0.0.1 with nothing listening on it. */
export async function closedPort () {
  const server = http.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = portOf(server)
  await closeServer(server)
  return port
}

/**
 * Builds the gateway from environment-style settings and starts it on port 0.
 * @param {Record<string, string>} [env]
 * @param {{ logStream?: import('../src/logger.js').LogStream }} [options]
 * @returns {Promise<Gateway>}
 */
export async function startGateway (env = {}, { logStream } = {}) {
  const config = loadConfig({ API_KEYS: KEY, LOG_LEVEL: 'silent', TOKEN_SECRET, ...env })
  const app = await buildApp(config, { logStream })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, config, url: `http://127.0.0.1:${portOf(app.server)}`, close: () => app.close() }
}

/** Collects JSON log lines written by the gateway's logger. */
export function logCollector () {
  /** @type {string[]} */
  const lines = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      callback()
    }
  })
  return { stream, lines }
}

/**
 * Opens a streaming GET with node:http on its own socket (agent: false), so
 * close() really drops the connection, as a browser tab going away would.
 * @param {string} url
 * @param {http.OutgoingHttpHeaders} [headers]
 */
export async function openStream (url, headers = {}) {
  const request = http.get(url, { headers, agent: false })
  const [response] = /** @type {[http.IncomingMessage]} */ (await once(request, 'response'))
  response.setEncoding('utf8')
  let text = ''
  /** @type {Set<() => void>} */
  const waiters = new Set()
  const wake = () => { for (const waiter of [...waiters]) waiter() }
  response.on('data', (chunk) => { text += chunk; wake() })
  response.on('close', wake)
  response.on('error', () => {})
  request.on('error', () => {})
  return {
    status: response.statusCode,
    headers: response.headers,
    /**
     * Resolves with the text received so far once `predicate(text)` holds.
     * @param {(text: string) => boolean} predicate
     * @returns {Promise<string>}
     */
    until (predicate) {
      return new Promise((resolve, reject) => {
        const waiter = () => {
          if (predicate(text)) {
            waiters.delete(waiter)
            resolve(text)
          } else if (response.destroyed) {
            waiters.delete(waiter)
            reject(new Error(`stream closed before the expected data; got: ${JSON.stringify(text)}`))
          }
        }
        waiters.add(waiter)
        waiter()
      })
    },
    /**
     * Resolves when the response is over, cleanly or cut ('aborted').
     * @returns {Promise<void>}
     */
    closed: () => (response.destroyed ? Promise.resolve() : new Promise((resolve) => response.once('close', () => resolve()))),
    close: () => request.destroy()
  }
}

/**
 * The test key plus `headers`, for fetch().
 * @param {Record<string, string>} [headers]
 * @returns {Record<string, string>}
 */
export const withKey = (headers = {}) => ({ 'x-api-key': KEY, ...headers })
