/**
 * Health state of one probed gateway (PURE): the fall/rise state machine and the RTT average.
 *
 * Owns: turning a sequence of probe results into healthy / unhealthy / unknown (SPEC §3:
 * "healthy after `rise` successes and unhealthy after `fall` failures"), and an EWMA of RTT.
 * Never: reads the clock (times are passed in) or does I/O.
 * Invariants:
 * - A new gateway is `unknown` (answered as healthy, so a cold start is not an outage) until its
 *   first probe result, which decides its first state.
 * - After that, the state changes only after `fall` consecutive failures (healthy → unhealthy) or
 *   `rise` consecutive successes (unhealthy → healthy). Each result is one probe, and a gateway is
 *   probed once per interval, so its state (and the answers built from it) never flips faster
 *   than once per probe interval.
 */

export type GatewayStatus = 'unknown' | 'healthy' | 'unhealthy';

export interface ProbeResult {
  readonly ok: boolean;
  readonly rttMs?: number | undefined;
  readonly error?: string | undefined;
}

export interface GatewayStateSnapshot {
  readonly status: GatewayStatus;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly rttMs?: number | undefined;
  readonly lastProbeMs?: number | undefined;
  readonly lastChangeMs?: number | undefined;
  readonly lastError?: string | undefined;
  readonly probes: number;
  readonly failures: number;
}

/** Weight of the newest RTT sample in the moving average. */
export const RTT_EWMA_ALPHA = 0.3;

export class GatewayState {
  status: GatewayStatus = 'unknown';
  consecutiveSuccesses = 0;
  consecutiveFailures = 0;
  rttMs: number | undefined;
  lastProbeMs: number | undefined;
  lastChangeMs: number | undefined;
  lastError: string | undefined;
  probes = 0;
  failures = 0;

  constructor(
    private readonly fall: number,
    private readonly rise: number,
  ) {}

  /** Apply one probe result; true when the status changed. */
  record(result: ProbeResult, nowMs: number): boolean {
    this.probes++;
    this.lastProbeMs = nowMs;
    const before = this.status;
    if (result.ok) {
      this.consecutiveSuccesses++;
      this.consecutiveFailures = 0;
      this.lastError = undefined;
      if (result.rttMs !== undefined) {
        this.rttMs = this.rttMs === undefined ? result.rttMs : RTT_EWMA_ALPHA * result.rttMs + (1 - RTT_EWMA_ALPHA) * this.rttMs;
      }
      if (this.status === 'unknown' || (this.status === 'unhealthy' && this.consecutiveSuccesses >= this.rise)) this.status = 'healthy';
    } else {
      this.failures++;
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      this.lastError = result.error;
      if (this.status === 'unknown' || (this.status === 'healthy' && this.consecutiveFailures >= this.fall)) this.status = 'unhealthy';
    }
    if (this.status !== before) {
      this.lastChangeMs = nowMs;
      return true;
    }
    return false;
  }

  /** For GatewayHealth: undefined while unknown. */
  healthy(): boolean | undefined {
    return this.status === 'unknown' ? undefined : this.status === 'healthy';
  }

  snapshot(): GatewayStateSnapshot {
    return {
      status: this.status,
      consecutiveSuccesses: this.consecutiveSuccesses,
      consecutiveFailures: this.consecutiveFailures,
      rttMs: this.rttMs === undefined ? undefined : Math.round(this.rttMs * 100) / 100,
      lastProbeMs: this.lastProbeMs,
      lastChangeMs: this.lastChangeMs,
      lastError: this.lastError,
      probes: this.probes,
      failures: this.failures,
    };
  }
}
