// @ts-check
// Configuration from the environment, and the entry point (src/server.js):
// refusal to start without keys, a real start, and a clean stop on SIGTERM.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, mkdir, writeFile, rm, symlink } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig, ConfigError, MAX_SECRET_FILE_BYTES } from '../src/config.js'

const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url))
// Valid keys: at least 16 printable ASCII characters.
const KEY_A = 'key-a-0123456789abcdef'
const KEY_B = 'key-b-0123456789abcdef'
const NO_ADMIN_TOKEN = 'admin keys are set (ADMIN_API_KEYS or ADMIN_API_KEYS_FILE) but the API\'s admin token is not: set REGWATCH_ADMIN_TOKEN or REGWATCH_ADMIN_TOKEN_FILE, the gateway needs it to forward release changes'

/**
 * `loadConfig(env)` refuses to start with exactly `message`, which echoes none of `secrets`.
 * @param {Record<string, string>} env
 * @param {string} message
 * @param {string[]} secrets
 */
function assertRefused (env, message, secrets) {
  assert.throws(() => loadConfig(env), (err) => {
    assert.ok(err instanceof ConfigError)
    assert.equal(err.message, message)
    for (const secret of secrets) assert.equal(err.message.includes(secret), false, 'no secret echoed')
    return true
  }, message)
}

test('defaults', () => {
  const config = loadConfig({ API_KEYS: KEY_A })
  assert.deepEqual({ ...config }, {
    upstreamUrls: ['http://127.0.0.1:8000'],
    apiKeys: [KEY_A],
    adminApiKeys: [],
    adminToken: undefined,
    port: 8080,
    host: '127.0.0.1',
    upstreamTimeoutMs: 10000,
    healthIntervalMs: 1000,
    healthTimeoutMs: 1000,
    bodyLimitBytes: 1048576,
    tokenTtlS: 60,
    tokenSecret: undefined,
    shutdownGraceMs: 5000,
    logLevel: 'info'
  })
})

test('every variable is read', () => {
  const config = loadConfig({
    UPSTREAM_URL: 'http://api:9000/',
    API_KEYS: `${KEY_A}, ${KEY_B} ,,${KEY_A}`,
    PORT: '9090',
    HOST: '0.0.0.0',
    UPSTREAM_TIMEOUT_MS: '2500',
    HEALTH_INTERVAL_MS: '250',
    HEALTH_TIMEOUT_MS: '750',
    BODY_LIMIT_BYTES: '2048',
    TOKEN_TTL_S: '30',
    TOKEN_SECRET: 'q'.repeat(32),
    SHUTDOWN_GRACE_MS: '0',
    LOG_LEVEL: 'warn'
  })
  assert.deepEqual(config.upstreamUrls, ['http://api:9000'])
  assert.deepEqual(config.apiKeys, [KEY_A, KEY_B])
  assert.equal(config.port, 9090)
  assert.equal(config.host, '0.0.0.0')
  assert.equal(config.upstreamTimeoutMs, 2500)
  assert.equal(config.healthIntervalMs, 250)
  assert.equal(config.healthTimeoutMs, 750)
  assert.equal(config.bodyLimitBytes, 2048)
  assert.equal(config.tokenTtlS, 30)
  assert.equal(config.tokenSecret, 'q'.repeat(32))
  assert.equal(config.shutdownGraceMs, 0)
  assert.equal(config.logLevel, 'warn')
})

test('API_KEYS and API_KEYS_FILE combine', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-config-'))
  t.after(() => rm(dir, { recursive: true }))
  const file = join(dir, 'keys')
  await writeFile(file, `# comment\r\n\r\n${KEY_B}\r\n   \r\n${KEY_A}\r\n`)
  assert.deepEqual(loadConfig({ API_KEYS: KEY_A, API_KEYS_FILE: file }).apiKeys, [KEY_A, KEY_B], 'distinct keys, in order')
})

test('bad values are refused with a message naming the variable', () => {
  const cases = {
    'no API key': {},
    API_KEYS: { API_KEYS: ' , ,' },
    API_KEYS_FILE: { API_KEYS_FILE: '/nonexistent/keys' },
    'PORT must be an integer': { API_KEYS: KEY_A, PORT: 'eighty' },
    'PORT must be between': { API_KEYS: KEY_A, PORT: '70000' },
    UPSTREAM_TIMEOUT_MS: { API_KEYS: KEY_A, UPSTREAM_TIMEOUT_MS: '0' },
    BODY_LIMIT_BYTES: { API_KEYS: KEY_A, BODY_LIMIT_BYTES: '-1' },
    TOKEN_TTL_S: { API_KEYS: KEY_A, TOKEN_TTL_S: '1.5' },
    TOKEN_SECRET: { API_KEYS: KEY_A, TOKEN_SECRET: 'short' },
    'UPSTREAM_URL is not a valid URL': { API_KEYS: KEY_A, UPSTREAM_URL: 'not a url' },
    'UPSTREAM_URL must use http': { API_KEYS: KEY_A, UPSTREAM_URL: 'ftp://x' },
    'UPSTREAM_URL must be an origin': { API_KEYS: KEY_A, UPSTREAM_URL: 'http://x/api' },
    LOG_LEVEL: { API_KEYS: KEY_A, LOG_LEVEL: 'loud' }
  }
  for (const [message, env] of Object.entries(cases)) {
    assert.throws(() => loadConfig(env), (err) => err instanceof ConfigError && err.message.includes(message), message)
  }
})

test('every key must be 16+ printable ASCII characters; a refusal names the key\'s place, never the key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-config-'))
  t.after(() => rm(dir, { recursive: true }))
  const file = join(dir, 'keys')
  await writeFile(file, `# keys\n${KEY_B}\n\nSh0rtFileSecret\n`)

  const tooShort = (/** @type {number} */ found) => `the key is too short: keys need at least 16 characters (found ${found}); make one with: openssl rand -hex 32`
  const outsideAscii = 'the key has a character outside printable ASCII (a space, a control or a non-ASCII character)'
  /** @type {[string, Record<string, string>, string][]} */
  const cases = [
    ['Q', { API_KEYS: 'Q' }, `API_KEYS key 1: ${tooShort(1)}`],
    ['fifteen-chars-k', { API_KEYS: `${KEY_A}, fifteen-chars-k` }, `API_KEYS key 2: ${tooShort(15)}`],
    ['Sh0rtFileSecret', { API_KEYS: KEY_A, API_KEYS_FILE: file }, `API_KEYS_FILE line 4: ${tooShort(15)}`],
    ['key with spaces inside it', { API_KEYS: 'key with spaces inside it' }, `API_KEYS key 1: ${outsideAscii}`],
    ['tab\tin-the-middle-of-the-key', { API_KEYS: 'tab\tin-the-middle-of-the-key' }, `API_KEYS key 1: ${outsideAscii}`],
    ['clé-0123456789abcdef', { API_KEYS: 'clé-0123456789abcdef' }, `API_KEYS key 1: ${outsideAscii}`]
  ]
  for (const [key, env, message] of cases) assertRefused(env, message, [key])
  assert.deepEqual(loadConfig({ API_KEYS: 'sixteen-chars-ok' }).apiKeys, ['sixteen-chars-ok'], '16 is enough')
  assert.deepEqual(loadConfig({ API_KEYS: '!~'.repeat(8) }).apiKeys, ['!~'.repeat(8)], 'any printable ASCII')
})

test('UPSTREAM_URLS: a comma-separated list of origins; UPSTREAM_URL is a list of one', () => {
  assert.deepEqual(loadConfig({ API_KEYS: KEY_A, UPSTREAM_URLS: ' http://api-1:8000/ ,, https://api-2:8443,http://10.0.0.3:8000 ' }).upstreamUrls,
    ['http://api-1:8000', 'https://api-2:8443', 'http://10.0.0.3:8000'])
  assert.deepEqual(loadConfig({ API_KEYS: KEY_A, UPSTREAM_URLS: 'http://api:8000' }).upstreamUrls, ['http://api:8000'])
  assert.deepEqual(loadConfig({ API_KEYS: KEY_A, UPSTREAM_URL: 'http://api:8000', UPSTREAM_URLS: ' ' }).upstreamUrls, ['http://api:8000'])
  /** @type {[Record<string, string>, string][]} */
  const refused = [
    [{ UPSTREAM_URL: 'http://a:1', UPSTREAM_URLS: 'http://b:1' }, 'both UPSTREAM_URLS and UPSTREAM_URL are set: set only one (UPSTREAM_URLS takes a comma-separated list)'],
    [{ UPSTREAM_URLS: ' , ' }, 'UPSTREAM_URLS has no URL'],
    [{ UPSTREAM_URLS: 'http://a:1,http://a:1/' }, 'UPSTREAM_URLS lists http://a:1 twice'],
    [{ UPSTREAM_URLS: 'http://a:1,http://b:1/api' }, 'UPSTREAM_URLS entry 2 must be an origin like http://host:port (no path, query or credentials), got "http://b:1/api"'],
    [{ UPSTREAM_URLS: 'http://a:1,ftp://b' }, 'UPSTREAM_URLS entry 2 must use http or https, got "ftp:"'],
    [{ UPSTREAM_URLS: 'nope' }, 'UPSTREAM_URLS entry 1 is not a valid URL: "nope"']
  ]
  for (const [env, message] of refused) {
    assert.throws(() => loadConfig({ API_KEYS: KEY_A, ...env }), (err) => err instanceof ConfigError && err.message === message, message)
  }
})

test('HEALTH_INTERVAL_MS and HEALTH_TIMEOUT_MS are bounded', () => {
  /** @type {[string, string][]} */
  const cases = [['HEALTH_INTERVAL_MS', '9'], ['HEALTH_INTERVAL_MS', '3600001'], ['HEALTH_INTERVAL_MS', 'soon'], ['HEALTH_TIMEOUT_MS', '0'], ['HEALTH_TIMEOUT_MS', '3600001']]
  for (const [name, value] of cases) {
    assert.throws(() => loadConfig({ API_KEYS: KEY_A, [name]: value }), (err) => err instanceof ConfigError && err.message.startsWith(`${name} must be`), `${name}=${value}`)
  }
})

test('ADMIN_API_KEYS: the key rule, the API token required with them, and a key in both lists is an admin key', () => {
  const token = 'api-token-0123456789abcdef'
  const config = loadConfig({ API_KEYS: `${KEY_A},${KEY_B}`, ADMIN_API_KEYS: ` ${KEY_B} `, REGWATCH_ADMIN_TOKEN: token })
  assert.deepEqual(config.apiKeys, [KEY_A])
  assert.deepEqual(config.adminApiKeys, [KEY_B])
  assert.equal(config.adminToken, token)
  assert.deepEqual(loadConfig({ ADMIN_API_KEYS: KEY_B, REGWATCH_ADMIN_TOKEN: token }).apiKeys, [], 'admin keys alone are enough')

  const short = 'Sh0rtAdminKey'
  const shortToken = 'Sh0rtToken'
  /** @type {[Record<string, string>, string][]} */
  const refused = [
    [{ ADMIN_API_KEYS: `${KEY_B},${short}`, REGWATCH_ADMIN_TOKEN: token }, 'ADMIN_API_KEYS key 2: the key is too short: keys need at least 16 characters (found 13); make one with: openssl rand -hex 32'],
    [{ ADMIN_API_KEYS: KEY_B }, NO_ADMIN_TOKEN],
    [{ ADMIN_API_KEYS: KEY_B, REGWATCH_ADMIN_TOKEN: '  ' }, NO_ADMIN_TOKEN],
    [{ ADMIN_API_KEYS: KEY_B, REGWATCH_ADMIN_TOKEN: shortToken }, 'REGWATCH_ADMIN_TOKEN is too short: keys need at least 16 characters (found 10); make one with: openssl rand -hex 32'],
    [{ ADMIN_API_KEYS: KEY_B, REGWATCH_ADMIN_TOKEN: 'token with spaces in it' }, 'REGWATCH_ADMIN_TOKEN has a character outside printable ASCII (a space, a control or a non-ASCII character)']
  ]
  for (const [env, message] of refused) assertRefused({ API_KEYS: KEY_A, ...env }, message, [short, shortToken, token])
})

/**
 * A temporary folder for secret files, removed after the test.
 * @param {import('node:test').TestContext} t
 */
async function secretsDir (t) {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-secrets-'))
  t.after(() => rm(dir, { recursive: true }))
  /** @param {string} name @param {string | Buffer} content */
  const file = async (name, content) => { await writeFile(join(dir, name), content); return join(dir, name) }
  return { dir, file }
}

test('ADMIN_API_KEYS_FILE and REGWATCH_ADMIN_TOKEN_FILE: the admin credentials as mounted secrets', async (t) => {
  const { file } = await secretsDir(t)
  const token = 'api-token-0123456789abcdef'
  const adminKeys = await file('admin_keys', `# release operators\r\n\r\n  ${KEY_B}  \n`)
  const tokenFile = await file('token', `\n  ${token}\n\n`)

  const config = loadConfig({ API_KEYS: KEY_A, ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: tokenFile })
  assert.deepEqual(config.adminApiKeys, [KEY_B], 'comments and blank lines skipped, keys trimmed')
  assert.deepEqual(config.apiKeys, [KEY_A])
  assert.equal(config.adminToken, token, 'the whole file, trimmed')
  const adminC = 'key-c-0123456789abcdef'
  assert.deepEqual(loadConfig({ ADMIN_API_KEYS: `${adminC},${KEY_B}`, ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN: token }).adminApiKeys,
    [adminC, KEY_B], 'ADMIN_API_KEYS and ADMIN_API_KEYS_FILE combine, as API_KEYS and API_KEYS_FILE do')
  assert.deepEqual(loadConfig({ API_KEYS_FILE: adminKeys, ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: tokenFile }).apiKeys,
    [], 'a key in both files is an admin key')
  assert.equal(loadConfig({ API_KEYS: KEY_A, REGWATCH_ADMIN_TOKEN_FILE: ' ' }).adminToken, undefined, 'a blank variable is unset')
})

test('a bad admin secret file stops the start with the reason, never with its content', async (t) => {
  const { dir, file } = await secretsDir(t)
  const token = 'api-token-0123456789abcdef'
  const secret = 'Sh0rtAdminKey'
  const adminKeys = await file('admin_keys', `${KEY_B}\n`)
  const tokenFile = await file('token', token)
  const shortKey = await file('short_key', `${KEY_B}\n# spare\n${secret}\n`)
  const shortToken = await file('short_token', `${secret}\n`)
  const twoLines = await file('two_lines', `${token}\n${token}\n`)
  const empty = await file('empty', '')
  const onlyComments = await file('comments', '# no key yet\n\n')
  const huge = await file('huge', `${KEY_B}\n${'#'.repeat(MAX_SECRET_FILE_BYTES)}\n`)
  const folder = join(dir, 'folder')
  await mkdir(folder)
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const dangling = join(dir, 'dangling')
  await symlink(join(dir, 'nowhere'), dangling)
  const missing = join(dir, 'missing')
  const noKey = (/** @type {string} */ variable, /** @type {string} */ path) =>
    `${variable} ${path} has no key (one key per line; blank lines and lines starting with # are ignored)`

  /** @type {[Record<string, string>, string][]} */
  const refused = [
    [{ ADMIN_API_KEYS_FILE: missing, REGWATCH_ADMIN_TOKEN: token }, `cannot read ADMIN_API_KEYS_FILE ${missing}: ENOENT`],
    [{ ADMIN_API_KEYS_FILE: dangling, REGWATCH_ADMIN_TOKEN: token }, `cannot read ADMIN_API_KEYS_FILE ${dangling}: ENOENT`],
    [{ ADMIN_API_KEYS_FILE: empty, REGWATCH_ADMIN_TOKEN: token }, noKey('ADMIN_API_KEYS_FILE', empty)],
    [{ ADMIN_API_KEYS_FILE: onlyComments, REGWATCH_ADMIN_TOKEN: token }, noKey('ADMIN_API_KEYS_FILE', onlyComments)],
    [{ API_KEYS_FILE: onlyComments }, noKey('API_KEYS_FILE', onlyComments)],
    [{ ADMIN_API_KEYS_FILE: folder, REGWATCH_ADMIN_TOKEN: token }, `ADMIN_API_KEYS_FILE ${folder} is not a regular file`],
    [{ ADMIN_API_KEYS_FILE: fifo, REGWATCH_ADMIN_TOKEN: token }, `ADMIN_API_KEYS_FILE ${fifo} is not a regular file`],
    [{ API_KEYS_FILE: fifo }, `API_KEYS_FILE ${fifo} is not a regular file`],
    [{ ADMIN_API_KEYS_FILE: huge, REGWATCH_ADMIN_TOKEN: token }, `ADMIN_API_KEYS_FILE ${huge} is larger than ${MAX_SECRET_FILE_BYTES} bytes: not a key file`],
    [{ ADMIN_API_KEYS_FILE: shortKey, REGWATCH_ADMIN_TOKEN: token }, 'ADMIN_API_KEYS_FILE line 3: the key is too short: keys need at least 16 characters (found 13); make one with: openssl rand -hex 32'],
    [{ ADMIN_API_KEYS_FILE: adminKeys }, NO_ADMIN_TOKEN],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN: token, REGWATCH_ADMIN_TOKEN_FILE: tokenFile }, 'both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE are set: set only one'],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: missing }, `cannot read REGWATCH_ADMIN_TOKEN_FILE ${missing}: ENOENT`],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: fifo }, `REGWATCH_ADMIN_TOKEN_FILE ${fifo} is not a regular file`],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: empty }, `REGWATCH_ADMIN_TOKEN_FILE ${empty} is empty`],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: shortToken }, 'REGWATCH_ADMIN_TOKEN_FILE is too short: keys need at least 16 characters (found 13); make one with: openssl rand -hex 32'],
    [{ ADMIN_API_KEYS_FILE: adminKeys, REGWATCH_ADMIN_TOKEN_FILE: twoLines }, 'REGWATCH_ADMIN_TOKEN_FILE has a character outside printable ASCII (a space, a control or a non-ASCII character)']
  ]
  for (const [env, message] of refused) assertRefused({ API_KEYS: KEY_A, ...env }, message, [secret, token, KEY_B])
})

/**
 * Runs src/server.js with exactly `env` (plus PATH); resolves on exit.
 * @param {Record<string, string>} env
 */
function runServer (env) {
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; child.emit('stdout') })
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal, stdout, stderr }))
  return { child, exited, stdout: () => stdout }
}

test('refuses to start without a usable configuration: one line on stderr, exit status 1, no key echoed', { timeout: 10_000 }, async (t) => {
  const noKey = 'no API key configured: set API_KEYS (comma-separated) or API_KEYS_FILE (one key per line)'
  /** @type {[Record<string, string>, string][]} */
  const cases = [
    [{}, noKey],
    [{ API_KEYS: '' }, noKey],
    [{ API_KEYS: ' , ' }, noKey],
    [{ API_KEYS: `${KEY_A},Q` }, 'API_KEYS key 2: the key is too short: keys need at least 16 characters (found 1); make one with: openssl rand -hex 32'],
    [{ API_KEYS: KEY_A, ADMIN_API_KEYS: KEY_B }, NO_ADMIN_TOKEN],
    [{ API_KEYS: KEY_A, ADMIN_API_KEYS: 'short', REGWATCH_ADMIN_TOKEN: KEY_B }, 'ADMIN_API_KEYS key 1: the key is too short: keys need at least 16 characters (found 5); make one with: openssl rand -hex 32'],
    [{ API_KEYS: KEY_A, UPSTREAM_URL: 'http://127.0.0.1:1', UPSTREAM_URLS: 'http://127.0.0.1:2' }, 'both UPSTREAM_URLS and UPSTREAM_URL are set: set only one (UPSTREAM_URLS takes a comma-separated list)'],
    [{ API_KEYS: KEY_A, ADMIN_API_KEYS_FILE: '/nonexistent/admin_api_keys', REGWATCH_ADMIN_TOKEN: KEY_B }, 'cannot read ADMIN_API_KEYS_FILE /nonexistent/admin_api_keys: ENOENT'],
    [{ API_KEYS: KEY_A, ADMIN_API_KEYS: KEY_B, REGWATCH_ADMIN_TOKEN: KEY_A, REGWATCH_ADMIN_TOKEN_FILE: '/run/secrets/admin_token' }, 'both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE are set: set only one']
  ]
  for (const [env, message] of cases) {
    const { child, exited } = runServer({ ...env, PORT: '0' })
    t.after(() => child.kill())
    const { code, stderr, stdout } = await exited
    assert.equal(code, 1)
    assert.equal(stdout, '')
    assert.equal(stderr, `regwatch-gateway: configuration error: ${message}\n`)
    assert.equal(stderr.includes(KEY_A), false)
  }
})

test('starts with a key (not logged), serves /healthz, and exits 0 on SIGTERM', { timeout: 10_000 }, async (t) => {
  const { child, exited, stdout } = runServer({ API_KEYS: KEY_A, PORT: '0', HOST: '127.0.0.1' })
  t.after(() => child.kill())
  const listening = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/
  while (!listening.test(stdout())) {
    const [, signalled] = await Promise.race([once(child, 'stdout').then(() => [true, false]), exited.then(() => [false, true])])
    assert.equal(signalled, false, `server exited early: ${stdout()}`)
  }
  const base = listening.exec(stdout())?.[1]
  const response = await fetch(`${base}/healthz`)
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { status: 'ok' })

  child.kill('SIGTERM')
  const { code, stdout: logs } = await exited
  assert.equal(code, 0)
  assert.match(logs, /"keys":1,"admin_keys":0,"msg":"gateway ready"/, 'the start-up line counts the keys')
  assert.equal(logs.includes(KEY_A), false, 'and never shows one')
})
