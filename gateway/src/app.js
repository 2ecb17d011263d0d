// @ts-check
// Builds the gateway application from a config produced by loadConfig().
// Tests call buildApp() directly; src/server.js adds listen() and signals.
// Plugins (fastify-plugin, shared by every route) come first, then the routes,
// each an encapsulated plugin of its own.
import Fastify, { LogController } from 'fastify'
import { genReqId } from './lib/request-id.js'
import { loggerOptions } from './logger.js'
import authPlugin from './plugins/auth.js'
import configPlugin from './plugins/config.js'
import errorsPlugin from './plugins/errors.js'
import eventTokensPlugin from './plugins/event-tokens.js'
import requestIdPlugin from './plugins/request-id.js'
import shutdownPlugin from './plugins/shutdown.js'
import upstreamHealthPlugin from './plugins/upstream-health.js'
import eventRoutes from './routes/events.js'
import healthRoutes from './routes/health.js'
import modelRoutes from './routes/models.js'
import releaseRoutes from './routes/release.js'
import tokenRoutes from './routes/tokens.js'
import v2Routes from './routes/v2.js'

/**
 * @param {import('./config.js').Config} config
 * @param {{ logStream?: import('./logger.js').LogStream }} [options]
 *   `logStream` receives the JSON log lines instead of stdout.
 */
export async function buildApp (config, { logStream } = {}) {
  const app = Fastify({
    logger: loggerOptions({ level: config.logLevel, stream: logStream }),
    genReqId,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: config.bodyLimitBytes,
    // Idle keep-alive sockets are closed on shutdown; see plugins/shutdown.js.
    forceCloseConnections: 'idle'
  })

  // Keep request bodies as raw bytes: the upstream parses and validates them,
  // so a malformed body gets the upstream's own 422, not a gateway 400.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => done(null, body))

  await app.register(configPlugin, { config })
  await app.register(requestIdPlugin)
  await app.register(errorsPlugin)
  await app.register(shutdownPlugin)
  await app.register(eventTokensPlugin)
  await app.register(authPlugin)
  await app.register(upstreamHealthPlugin)
  await app.register(healthRoutes)
  await app.register(modelRoutes)
  await app.register(eventRoutes)
  await app.register(tokenRoutes)
  await app.register(v2Routes)
  await app.register(releaseRoutes)

  return app
}
