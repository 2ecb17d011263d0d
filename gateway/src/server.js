// @ts-check
// Entry point: read the environment, start listening, stop cleanly on signals.
// A configuration problem is reported on one line and exits with status 1.
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

/**
 * @param {string} message
 * @returns {never}
 */
function fail (message) {
  process.stderr.write(`regwatch-gateway: ${message}\n`)
  process.exit(1)
}

/** @returns {import('./config.js').Config} */
function configFromEnv () {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`)
    throw err
  }
}

const config = configFromEnv()
const app = await buildApp(config)

try {
  await app.listen({ port: config.port, host: config.host })
  app.log.info({ upstreams: config.upstreamUrls, keys: config.apiKeys.length, admin_keys: config.adminApiKeys.length }, 'gateway ready')
} catch (err) {
  fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`)
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    app.log.info({ signal }, 'shutting down')
    try {
      await app.close()
      process.exit(0)
    } catch (err) {
      app.log.error({ err }, 'error during shutdown')
      process.exit(1)
    }
  })
}
