// @ts-check
// The upstreams (UPSTREAM_URLS) and what the gateway believes of their health:
// requests go round-robin over the healthy ones. Health is reported by the
// periodic /readyz checks (plugins/upstream-health.js) and by requests whose
// connection was refused; every flip is announced once as a 'change' event.
import { EventEmitter } from 'node:events'

/** @typedef {{ origin: string, healthy: boolean, reason?: string }} HealthChange */

/** @extends {EventEmitter<{ change: [HealthChange] }>} */
export class UpstreamPool extends EventEmitter {
  /** @type {readonly string[]} */
  #origins
  /** Origins known to be unhealthy; unknown counts as healthy (better try than refuse). */
  #down = new Set()
  /** Where the next round-robin turn starts, an index into #origins. */
  #next = 0

  /** @param {readonly string[]} origins */
  constructor (origins) {
    super()
    this.#origins = origins
  }

  get origins () {
    return this.#origins
  }

  /**
   * The next upstream to try, round-robin over the healthy ones not in
   * `exclude`. When none of those is healthy, the others are tried anyway: a
   * real error from an upstream beats refusing on a stale belief.
   * @param {readonly string[]} [exclude]  upstreams already tried for this request
   * @returns {string | undefined}  undefined when every upstream is excluded
   */
  pick (exclude = []) {
    const candidates = this.#origins.filter((origin) => !exclude.includes(origin))
    const healthy = candidates.filter((origin) => !this.#down.has(origin))
    const eligible = healthy.length > 0 ? healthy : candidates
    const count = this.#origins.length
    for (let step = 0; step < count; step++) {
      const index = (this.#next + step) % count
      if (eligible.includes(this.#origins[index])) {
        this.#next = (index + 1) % count
        return this.#origins[index]
      }
    }
    return undefined
  }

  /**
   * Records a check's or a request's verdict on `origin`; emits 'change' when
   * it flips (so a long outage is logged once, not at every check).
   * @param {string} origin
   * @param {boolean} healthy
   * @param {string} [reason]  why it is unhealthy
   */
  report (origin, healthy, reason) {
    if (healthy !== this.#down.has(origin)) return
    if (healthy) this.#down.delete(origin)
    else this.#down.add(origin)
    this.emit('change', healthy ? { origin, healthy } : { origin, healthy, reason })
  }

  /** How many upstreams are believed healthy, of how many. */
  counts () {
    return { healthy: this.#origins.length - this.#down.size, total: this.#origins.length }
  }
}
