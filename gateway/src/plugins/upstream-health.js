// @ts-check
// `fastify.upstreams` (lib/upstream-pool.js) kept up to date: each upstream's
// /readyz is checked when the gateway starts (before it listens), then every
// HEALTH_INTERVAL_MS after its previous check ended, each check bounded by
// HEALTH_TIMEOUT_MS. Every upstream has its own loop, so a mute one never
// delays the checks of the others. Each flip healthy <-> unhealthy is logged once.
import fp from 'fastify-plugin'
import { checkReadiness } from '../lib/health.js'
import { UpstreamPool } from '../lib/upstream-pool.js'

/** @type {import('fastify').FastifyPluginAsync} */
async function upstreamHealthPlugin (fastify) {
  const { upstreamUrls, healthIntervalMs, healthTimeoutMs } = fastify.config
  const pool = new UpstreamPool(upstreamUrls)
  fastify.decorate('upstreams', pool)

  pool.on('change', ({ origin, healthy, reason }) => {
    if (healthy) fastify.log.info({ upstream: origin }, 'upstream healthy')
    else fastify.log.warn({ upstream: origin, reason }, 'upstream unhealthy')
  })

  const closing = new AbortController()
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set()

  /** @param {string} origin */
  async function check (origin) {
    const verdict = await checkReadiness(origin, { timeoutMs: healthTimeoutMs, signal: closing.signal })
    if (closing.signal.aborted) return
    pool.report(origin, verdict.healthy, verdict.healthy ? undefined : verdict.reason)
    const timer = setTimeout(() => {
      timers.delete(timer)
      check(origin)
    }, healthIntervalMs)
    timers.add(timer)
  }

  fastify.addHook('onReady', async function firstChecks () {
    await Promise.all(upstreamUrls.map(check))
  })
  fastify.addHook('onClose', async function stopChecks () {
    closing.abort()
    for (const timer of timers) clearTimeout(timer)
  })
}

export default fp(upstreamHealthPlugin, { name: 'regwatch-upstream-health', fastify: '5.x', dependencies: ['regwatch-config'] })
