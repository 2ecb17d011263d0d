// @ts-check
// Reads the gateway configuration from environment variables.
// Pure: takes an env object, returns a frozen config or throws ConfigError.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'
import { keyProblem } from './lib/api-keys.js'

export class ConfigError extends Error {
  /** @param {string} message */
  constructor (message) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** @typedef {Readonly<Record<string, string | undefined>>} Env */
/** @typedef {'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'} LogLevel */
/**
 * A configured key and where it came from, for an error message that must
 * not quote the key itself.
 * @typedef {{ key: string, where: string }} KeySource
 */

/** @type {readonly LogLevel[]} */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
// A key or token file is a few lines: anything larger is not one (a wrong mount).
export const MAX_SECRET_FILE_BYTES = 64 * 1024

export const DEFAULTS = Object.freeze({
  UPSTREAM_URL: 'http://127.0.0.1:8000',
  PORT: 8080,
  HOST: '127.0.0.1',
  UPSTREAM_TIMEOUT_MS: 10_000,
  HEALTH_INTERVAL_MS: 1000,
  HEALTH_TIMEOUT_MS: 1000,
  BODY_LIMIT_BYTES: 1024 * 1024,
  TOKEN_TTL_S: 60,
  SHUTDOWN_GRACE_MS: 5000,
  LOG_LEVEL: 'info'
})

/** @param {Env} [env] */
export function loadConfig (env = process.env) {
  const adminApiKeys = checkedKeys(configuredKeys(env, 'ADMIN_API_KEYS'))
  // A key listed in both is an admin key: admin keys may use every route.
  const apiKeys = checkedKeys(configuredKeys(env, 'API_KEYS')).filter((key) => !adminApiKeys.includes(key))
  if (apiKeys.length + adminApiKeys.length === 0) {
    throw new ConfigError('no API key configured: set API_KEYS (comma-separated) or API_KEYS_FILE (one key per line)')
  }

  const tokenSecret = nonEmpty(env.TOKEN_SECRET)
  if (tokenSecret !== undefined && tokenSecret.length < 32) {
    throw new ConfigError('TOKEN_SECRET must be at least 32 characters long')
  }

  return Object.freeze({
    upstreamUrls: Object.freeze(parseUpstreams(env)),
    apiKeys: Object.freeze(apiKeys),
    adminApiKeys: Object.freeze(adminApiKeys),
    adminToken: parseAdminToken(secretSetting(env, 'REGWATCH_ADMIN_TOKEN'), adminApiKeys.length > 0),
    port: parseInteger(env, 'PORT', DEFAULTS.PORT, 0, 65_535),
    host: nonEmpty(env.HOST) ?? DEFAULTS.HOST,
    upstreamTimeoutMs: parseInteger(env, 'UPSTREAM_TIMEOUT_MS', DEFAULTS.UPSTREAM_TIMEOUT_MS, 1, 3_600_000),
    healthIntervalMs: parseInteger(env, 'HEALTH_INTERVAL_MS', DEFAULTS.HEALTH_INTERVAL_MS, 10, 3_600_000),
    healthTimeoutMs: parseInteger(env, 'HEALTH_TIMEOUT_MS', DEFAULTS.HEALTH_TIMEOUT_MS, 1, 3_600_000),
    bodyLimitBytes: parseInteger(env, 'BODY_LIMIT_BYTES', DEFAULTS.BODY_LIMIT_BYTES, 1, 1024 ** 3),
    tokenTtlS: parseInteger(env, 'TOKEN_TTL_S', DEFAULTS.TOKEN_TTL_S, 1, 86_400),
    tokenSecret,
    shutdownGraceMs: parseInteger(env, 'SHUTDOWN_GRACE_MS', DEFAULTS.SHUTDOWN_GRACE_MS, 0, 600_000),
    logLevel: parseLogLevel(nonEmpty(env.LOG_LEVEL) ?? DEFAULTS.LOG_LEVEL)
  })
}

/** @typedef {ReturnType<typeof loadConfig>} Config */

/** @param {string | undefined} value */
function nonEmpty (value) {
  if (value === undefined || value === null) return undefined
  const trimmed = String(value).trim()
  return trimmed === '' ? undefined : trimmed
}

/**
 * Every key must pass lib/api-keys.js keyProblem(): one weak key is enough
 * to open the gateway, so the process refuses to start rather than warn.
 * @param {KeySource[]} sources
 * @returns {string[]} the distinct keys
 */
function checkedKeys (sources) {
  for (const { key, where } of sources) {
    const problem = keyProblem(key)
    if (problem !== undefined) throw new ConfigError(`${where}: the key ${problem}`)
  }
  return [...new Set(sources.map(({ key }) => key))]
}

/**
 * The non-empty, trimmed items of a comma-separated list.
 * @param {string | undefined} list
 */
const splitList = (list) => (list ?? '').split(',').map((item) => item.trim()).filter(Boolean)

/**
 * @param {string | undefined} list
 * @param {string} variable  its name, for error messages
 * @returns {KeySource[]}
 */
function splitKeys (list, variable) {
  return splitList(list).map((key, index) => ({ key, where: `${variable} key ${index + 1}` }))
}

/**
 * The keys of a list setting: `<variable>` (comma-separated) and
 * `<variable>_FILE` (one per line) combined, as a secret mounted as a file
 * and a key given inline may both be in use while keys are rotated.
 * @param {Env} env
 * @param {'API_KEYS' | 'ADMIN_API_KEYS'} variable
 * @returns {KeySource[]}
 */
function configuredKeys (env, variable) {
  return [...splitKeys(env[variable], variable), ...readKeysFile(env[`${variable}_FILE`], `${variable}_FILE`)]
}

/**
 * A single-valued secret setting, from `<variable>` or from the file named
 * by `<variable>_FILE` (its whole content, trimmed), never both: one of the
 * two would be silently ignored.
 * @param {Env} env
 * @param {string} variable
 * @returns {KeySource | undefined}  `where` names the variable it came from
 */
function secretSetting (env, variable) {
  const value = nonEmpty(env[variable])
  const file = nonEmpty(env[`${variable}_FILE`])
  if (file === undefined) return value === undefined ? undefined : { key: value, where: variable }
  if (value !== undefined) {
    throw new ConfigError(`both ${variable} and ${variable}_FILE are set: set only one`)
  }
  const key = readSecretFile(file, `${variable}_FILE`).trim()
  if (key === '') throw new ConfigError(`${variable}_FILE ${file} is empty`)
  return { key, where: `${variable}_FILE` }
}

/**
 * The API's admin token, needed (and only used) when there are admin keys:
 * the gateway is the one that may change releases over HTTP. It goes into
 * an `Authorization: Bearer` header, so it follows the key rule too.
 * @param {KeySource | undefined} token
 * @param {boolean} needed
 */
function parseAdminToken (token, needed) {
  if (token === undefined) {
    if (needed) {
      throw new ConfigError('admin keys are set (ADMIN_API_KEYS or ADMIN_API_KEYS_FILE) but the API\'s admin token is not: set REGWATCH_ADMIN_TOKEN or REGWATCH_ADMIN_TOKEN_FILE, the gateway needs it to forward release changes')
    }
    return undefined
  }
  const problem = keyProblem(token.key)
  if (problem !== undefined) throw new ConfigError(`${token.where} ${problem}`)
  return token.key
}

/**
 * UPSTREAM_URLS (comma-separated) or UPSTREAM_URL (one), never both: with
 * both set, one of them would be silently ignored.
 * @param {Env} env
 * @returns {string[]} distinct origins, in the order given
 */
function parseUpstreams (env) {
  const list = nonEmpty(env.UPSTREAM_URLS)
  const single = nonEmpty(env.UPSTREAM_URL)
  if (list !== undefined && single !== undefined) {
    throw new ConfigError('both UPSTREAM_URLS and UPSTREAM_URL are set: set only one (UPSTREAM_URLS takes a comma-separated list)')
  }
  if (list === undefined) return [parseUpstreamUrl(single ?? DEFAULTS.UPSTREAM_URL, 'UPSTREAM_URL')]
  const urls = splitList(list).map((raw, index) => parseUpstreamUrl(raw, `UPSTREAM_URLS entry ${index + 1}`))
  if (urls.length === 0) throw new ConfigError('UPSTREAM_URLS has no URL')
  const twice = urls.find((url, index) => urls.indexOf(url) !== index)
  if (twice !== undefined) throw new ConfigError(`UPSTREAM_URLS lists ${twice} twice`)
  return urls
}

/**
 * One key per line; blank lines and lines starting with '#' are ignored. A
 * file that is named but holds no key is refused: an empty secret is a
 * mistake (a file created but never filled), not a wish for no keys.
 * @param {string | undefined} path
 * @param {string} variable  its name, for error messages
 * @returns {KeySource[]}
 */
function readKeysFile (path, variable) {
  const file = nonEmpty(path)
  if (file === undefined) return []
  const keys = readSecretFile(file, variable).split(/\r?\n/).flatMap((line, index) => {
    const key = line.trim()
    return key === '' || key.startsWith('#') ? [] : [{ key, where: `${variable} line ${index + 1}` }]
  })
  if (keys.length === 0) throw new ConfigError(`${variable} ${file} has no key (one key per line; blank lines and lines starting with # are ignored)`)
  return keys
}

/**
 * A secret file's text: a regular file (links are followed, as Kubernetes
 * mounts secrets through them) of at most MAX_SECRET_FILE_BYTES. Opened
 * non-blocking and checked on the open descriptor, so a FIFO can neither
 * hang the start nor be swapped in after the check.
 * @param {string} file
 * @param {string} variable  the setting that names it, for error messages
 */
function readSecretFile (file, variable) {
  let fd
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
    if (!fstatSync(fd).isFile()) throw new ConfigError(`${variable} ${file} is not a regular file`)
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1)
    let length = 0
    let read
    do {
      read = readSync(fd, buffer, length, buffer.length - length, null)
      length += read
    } while (read !== 0 && length < buffer.length)
    if (length > MAX_SECRET_FILE_BYTES) {
      throw new ConfigError(`${variable} ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes: not a key file`)
    }
    return buffer.toString('utf8', 0, length)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const { code, message } = /** @type {NodeJS.ErrnoException} */ (err)
    throw new ConfigError(`cannot read ${variable} ${file}: ${code ?? message}`)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/**
 * @param {Env} env
 * @param {string} name
 * @param {number} fallback
 * @param {number} min
 * @param {number} max
 */
function parseInteger (env, name, fallback, min, max) {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`)
  return value
}

/**
 * Only an origin is accepted: the gateway maps its routes onto the upstream's root.
 * @param {string} raw
 * @param {string} where  the variable (and entry), for error messages
 */
function parseUpstreamUrl (raw, where) {
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${where} is not a valid URL: "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${where} must use http or https, got "${url.protocol}"`)
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${where} must be an origin like http://host:port (no path, query or credentials), got "${raw}"`)
  }
  return url.origin
}

/**
 * @param {string} level
 * @returns {LogLevel}
 */
function parseLogLevel (level) {
  const known = LOG_LEVELS.find((candidate) => candidate === level)
  if (known === undefined) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
  }
  return known
}
