// The host's usage meter: now and then it measures what this host's VMs really take (the driver's measureMemory) and,
// when that changed, records it as host.usage, so every scheduler counts memory in use rather than memory given.
import type { Driver } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import { hostEvent, mayWrite } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { ClusterView } from '../../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../../model/pod-machine.js';

export interface UsageMeterDeps {
  hostId: string;
  daemonId: string;
  driver: Driver & { measureMemory(): Promise<Map<string, number>> };
  store: EventStore;
  view: ClusterView;
  log: Logger;
  everyMs: number;
}

/** A VM's measure is recorded again only when it moved by this much (MB) or this share: idle VMs write nothing. */
const MOVE_MB = 4;
const MOVE_SHARE = 0.1;

/** The VMs of this host's pods and their measures, as the driver found them (VMs no pod of this host holds are left out). */
export function podVms(view: ClusterView, hostId: string, measured: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of view.pods.values()) {
    const vm = p.context.vm;
    if (p.context.host !== hostId || !HOLDS_RESOURCES.has(p.state) || !vm) continue;
    const mb = measured.get(vm);
    if (mb !== undefined) out[vm] = mb;
  }
  return out;
}

/** Whether new measures say something the last recorded ones do not: a VM came or went, or one moved enough. */
export function changed(last: Record<string, number> | undefined, now: Record<string, number>): boolean {
  if (!last) return Object.keys(now).length > 0;
  const ids = Object.keys(now);
  if (ids.length !== Object.keys(last).length) return true;
  for (const id of ids) {
    const before = last[id];
    if (before === undefined) return true;
    const d = Math.abs(now[id]! - before);
    if (d >= MOVE_MB && d >= before * MOVE_SHARE) return true;
  }
  return false;
}

export class UsageMeter {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private n = 0;

  constructor(private readonly d: UsageMeterDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.measure(), this.d.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Measures once and records the measures if they changed (and every host of the cluster reads host.usage). */
  async measure(): Promise<boolean> {
    if (this.busy || !mayWrite('host.usage', this.d.view.hostVersions())) return false;
    this.busy = true;
    try {
      const now = podVms(this.d.view, this.d.hostId, await this.d.driver.measureMemory());
      if (!changed(this.d.view.hosts.get(this.d.hostId)?.measured?.memoryMbByVm, now)) return false;
      const at = Date.now();
      await this.d.store.append(hostEvent('host.usage', this.d.hostId, { memoryMbByVm: now }, { id: `${this.d.hostId}.usage.${this.d.daemonId}.${at}.${this.n++}`, at, by: `host:${this.d.hostId}` }));
      return true;
    } catch (err) {
      this.d.log.warn({ err, host: this.d.hostId }, `could not measure or record what host ${this.d.hostId}'s VMs take (capacity counts what they were given meanwhile)`);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
