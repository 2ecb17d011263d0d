// Builds the gateway application from a config produced by loadConfig().
// Tests call buildApp() directly; src/server.js adds listen() and signals.
import Fastify, { LogController } from 'fastify'
import configPlugin from './plugins/config.js'
import requestIdPlugin, { genReqId } from './plugins/request-id.js'
import errorsPlugin from './plugins/errors.js'
import tokensPlugin from './plugins/tokens.js'
import authPlugin from './plugins/auth.js'
import shutdownPlugin from './plugins/shutdown.js'
import healthRoutes from './routes/health.js'
import modelRoutes from './routes/models.js'
import eventRoutes from './routes/events.js'
import { loggerOptions } from './logger.js'

// `logStream` (optional) receives the JSON log lines instead of stdout.
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
  await app.register(tokensPlugin)
  await app.register(authPlugin)
  await app.register(healthRoutes)
  await app.register(modelRoutes)
  await app.register(eventRoutes)

  return app
}
