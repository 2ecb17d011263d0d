// @ts-check
// `fastify.upstreams` (lib/upstream-pool.js) kept up to date: every upstream's
// /readyz is checked when the gateway starts (before it listens) and then
// every HEALTH_INTERVAL_MS, each check bounded by the smaller of that interval
// and UPSTREAM_TIMEOUT_MS so rounds never overlap. A round starts only after
// the previous one ended. Each flip healthy <-> unhealthy is logged once.
import fp from 'fastify-plugin'
import { checkReadiness } from '../lib/health.js'
import { UpstreamPool } from '../lib/upstream-pool.js'

/** @type {import('fastify').FastifyPluginAsync} */
async function upstreamHealthPlugin (fastify) {
  const { upstreamUrls, healthIntervalMs, upstreamTimeoutMs } = fastify.config
  const pool = new UpstreamPool(upstreamUrls)
  fastify.decorate('upstreams', pool)

  pool.on('change', ({ origin, healthy, reason }) => {
    if (healthy) fastify.log.info({ upstream: origin }, 'upstream healthy')
    else fastify.log.warn({ upstream: origin, reason }, 'upstream unhealthy')
  })

  const closing = new AbortController()
  const timeoutMs = Math.min(healthIntervalMs, upstreamTimeoutMs)
  /** @type {NodeJS.Timeout | undefined} */
  let timer

  async function checkAll () {
    await Promise.all(upstreamUrls.map(async (origin) => {
      const verdict = await checkReadiness(origin, { timeoutMs, signal: closing.signal })
      if (closing.signal.aborted) return
      pool.report(origin, verdict.healthy, verdict.healthy ? undefined : verdict.reason)
    }))
  }

  async function round () {
    await checkAll()
    if (!closing.signal.aborted) timer = setTimeout(round, healthIntervalMs)
  }

  fastify.addHook('onReady', async function firstCheck () {
    await checkAll()
    timer = setTimeout(round, healthIntervalMs)
  })
  fastify.addHook('onClose', async function stopChecks () {
    closing.abort()
    clearTimeout(timer)
  })
}

export default fp(upstreamHealthPlugin, { name: 'regwatch-upstream-health', fastify: '5.x', dependencies: ['regwatch-config'] })
