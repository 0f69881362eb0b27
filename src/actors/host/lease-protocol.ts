// What the lease worker and the daemon's main thread say to each other, the heartbeat's format, and the clock both read.
export interface Heartbeat { at: number; daemon: string; leaseMs: number; hosts: [string, number][] }

export function parseHeartbeat(s: string): Heartbeat | null {
  try {
    const v = JSON.parse(s) as Heartbeat;
    return typeof v?.at === 'number' && typeof v.daemon === 'string' && Array.isArray(v.hosts) ? v : null;
  } catch {
    return null;
  }
}

/** Monotonic milliseconds, the same in every thread of the process (performance.now() has a per-thread origin). */
export function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A host as the worker needs it: who renews it, whether it is up, its epoch. */
export interface LeaseHost { id: string; daemon: string; state: string; epoch: number }

export type ToWorker =
  | { t: 'hosts'; hosts: LeaseHost[]; joined?: string[] }
  | { t: 'renew' }
  | { t: 'retry-silent'; host: string; epoch: number }
  /** `left`: the hosts left on purpose (host.left), so the VMs that outlive the daemon are not to be fenced. */
  | { t: 'stop'; left?: boolean };

export type ToMain =
  | { t: 'ready' }
  | { t: 'seen'; updates: [string, number][] }
  | { t: 'renewed'; sentAt: number; tookMs: number }
  | { t: 'renew-failed'; message: string; silentMs: number }
  | { t: 'fence'; silentMs: number }
  | { t: 'recover' }
  | { t: 'silent'; host: string; epoch: number; silentMs: number }
  /** The watch stopped delivering (even this daemon's own renewals): no host is judged until it is back. */
  | { t: 'watch-stale'; lagMs: number }
  | { t: 'watch-ok' }
  | { t: 'stopped' };
