// The host actor: joins the cluster with its capacity, heartbeats, and runs a pod runner for each pod placed on it.
import type { Driver } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import { hostEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { Change, ClusterView } from '../../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../../model/pod-machine.js';
import { PodRunner } from '../pod/live.js';
import { VERSION } from '../../version.js';

export interface HostActorDeps {
  hostId: string;
  daemonId: string;
  capacity: { cpus: number; memoryMb: number };
  driver: Driver;
  store: EventStore;
  view: ClusterView;
  log: Logger;
  bootTimeoutMs: number;
}

export class HostActor {
  private readonly runners = new Map<string, PodRunner>();

  constructor(private readonly d: HostActorDeps) {}

  get id(): string {
    return this.d.hostId;
  }

  async join(): Promise<void> {
    const { hostId, daemonId, capacity, driver } = this.d;
    await this.d.store.append(
      hostEvent('host.joined', hostId, { capacity, drivers: [driver.name], daemon: daemonId, version: VERSION, hollow: driver.name === 'hollow' }, { id: `${hostId}.joined.${daemonId}`, at: Date.now(), by: `host:${hostId}` }),
    );
  }

  /** After catching up: take charge of every pod the log says is on this host (re-arming what replay did not run). */
  adopt(): void {
    for (const p of this.d.view.pods.values()) if (p.context.host === this.d.hostId && HOLDS_RESOURCES.has(p.state)) this.runner(p.context.id).poke();
  }

  /** Fed only with live changes about pods. */
  onChange(c: Change): void {
    if (c.kind !== 'pod') return;
    const id = c.pod.context.id;
    const existing = this.runners.get(id);
    if (existing) existing.poke();
    else if (c.pod.context.host === this.d.hostId && HOLDS_RESOURCES.has(c.pod.state)) this.runner(id).poke();
  }

  get podCount(): number {
    return this.runners.size;
  }

  async leave(reason: string): Promise<void> {
    const stop = this.d.driver.capabilities.survivesDaemonRestart ? [] : [...this.runners.values()].map((r) => r.shutdown(`host ${this.d.hostId} shut down: ${reason}`));
    await Promise.all(stop);
    await this.d.store.append(hostEvent('host.left', this.d.hostId, { reason }, { id: `${this.d.hostId}.left.${this.d.daemonId}`, at: Date.now(), by: `host:${this.d.hostId}` }));
  }

  private runner(podId: string): PodRunner {
    let r = this.runners.get(podId);
    if (!r) {
      r = new PodRunner(podId, { ...this.d, onDone: (id) => this.runners.delete(id) });
      this.runners.set(podId, r);
    }
    return r;
  }
}
