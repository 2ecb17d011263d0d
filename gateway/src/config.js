// Reads the gateway configuration from environment variables.
// Pure: takes an env object, returns a frozen config or throws ConfigError.
import { readFileSync } from 'node:fs'

export class ConfigError extends Error {
  constructor (message) {
    super(message)
    this.name = 'ConfigError'
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export const DEFAULTS = Object.freeze({
  UPSTREAM_URL: 'http://127.0.0.1:8000',
  PORT: 8080,
  HOST: '127.0.0.1',
  UPSTREAM_TIMEOUT_MS: 10_000,
  BODY_LIMIT_BYTES: 1024 * 1024,
  TOKEN_TTL_S: 60,
  SHUTDOWN_GRACE_MS: 5000,
  LOG_LEVEL: 'info'
})

export function loadConfig (env = process.env) {
  const apiKeys = [...new Set([
    ...splitKeys(env.API_KEYS),
    ...readKeysFile(env.API_KEYS_FILE)
  ])]
  if (apiKeys.length === 0) {
    throw new ConfigError('no API key configured: set API_KEYS (comma-separated) or API_KEYS_FILE (one key per line)')
  }

  const tokenSecret = nonEmpty(env.TOKEN_SECRET)
  if (tokenSecret !== undefined && tokenSecret.length < 32) {
    throw new ConfigError('TOKEN_SECRET must be at least 32 characters long')
  }

  return Object.freeze({
    upstreamUrl: parseUpstreamUrl(nonEmpty(env.UPSTREAM_URL) ?? DEFAULTS.UPSTREAM_URL),
    apiKeys: Object.freeze(apiKeys),
    port: parseInteger(env, 'PORT', DEFAULTS.PORT, 0, 65_535),
    host: nonEmpty(env.HOST) ?? DEFAULTS.HOST,
    upstreamTimeoutMs: parseInteger(env, 'UPSTREAM_TIMEOUT_MS', DEFAULTS.UPSTREAM_TIMEOUT_MS, 1, 3_600_000),
    bodyLimitBytes: parseInteger(env, 'BODY_LIMIT_BYTES', DEFAULTS.BODY_LIMIT_BYTES, 1, 1024 ** 3),
    tokenTtlS: parseInteger(env, 'TOKEN_TTL_S', DEFAULTS.TOKEN_TTL_S, 1, 86_400),
    tokenSecret,
    shutdownGraceMs: parseInteger(env, 'SHUTDOWN_GRACE_MS', DEFAULTS.SHUTDOWN_GRACE_MS, 0, 600_000),
    logLevel: parseLogLevel(nonEmpty(env.LOG_LEVEL) ?? DEFAULTS.LOG_LEVEL)
  })
}

function nonEmpty (value) {
  if (value === undefined || value === null) return undefined
  const trimmed = String(value).trim()
  return trimmed === '' ? undefined : trimmed
}

function splitKeys (list) {
  return (list ?? '').split(',').map((k) => k.trim()).filter(Boolean)
}

// One key per line; blank lines and lines starting with '#' are ignored.
function readKeysFile (path) {
  if (nonEmpty(path) === undefined) return []
  let text
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read API_KEYS_FILE ${path}: ${err.code ?? err.message}`)
  }
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
}

function parseInteger (env, name, fallback, min, max) {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`)
  return value
}

// Only an origin is accepted: the gateway maps its routes onto the upstream's root.
function parseUpstreamUrl (raw) {
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`UPSTREAM_URL is not a valid URL: "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`UPSTREAM_URL must use http or https, got "${url.protocol}"`)
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`UPSTREAM_URL must be an origin like http://host:port (no path, query or credentials), got "${raw}"`)
  }
  return url.origin
}

function parseLogLevel (level) {
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
  }
  return level
}
