// @ts-check
// One readiness check of one upstream: `GET /readyz` answers 2xx within the
// time limit. The API answers 503 there until a model serves, so an upstream
// that is up but cannot predict yet is not sent traffic while others can.

export const READINESS_PATH = '/readyz'

/** @typedef {{ healthy: true } | { healthy: false, reason: string }} Verdict */

/**
 * Never throws: any failure is a verdict with a reason for the log.
 * @param {string} origin
 * @param {{ timeoutMs: number, signal: AbortSignal }} options
 *   `signal` aborts the check when the gateway closes.
 * @returns {Promise<Verdict>}
 */
export async function checkReadiness (origin, { timeoutMs, signal }) {
  try {
    const response = await fetch(origin + READINESS_PATH, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      redirect: 'manual'
    })
    // Read the (small) body so the connection is reused by the next check.
    await response.arrayBuffer()
    return response.ok ? { healthy: true } : { healthy: false, reason: `${READINESS_PATH} answered ${response.status}` }
  } catch (err) {
    const { name, cause } = /** @type {Error & { cause?: { code?: string } }} */ (err)
    return { healthy: false, reason: name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause?.code ?? name }
  }
}
