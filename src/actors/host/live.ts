// The host actor: joins the cluster with its capacity, heartbeats, and runs a pod runner for each pod placed on it.
import type { Driver } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import { hostEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { Change, ClusterView } from '../../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../../model/pod-machine.js';
import { PodRunner, vmIdOf } from '../pod/live.js';
import { VERSION } from '../../version.js';
import type { HostNetwork } from '../../net/host-network.js';
import type { ClusterFirst } from '../cluster-first.js';

export interface HostActorDeps {
  hostId: string;
  daemonId: string;
  capacity: { cpus: number; memoryMb: number };
  driver: Driver;
  store: EventStore;
  view: ClusterView;
  log: Logger;
  bootTimeoutMs: number;
  /** Aborted when the daemon stops. */
  stopping: AbortSignal;
  /** Told when a runner for a pod starts here (true) and ends (false): the daemon routes that pod's changes by it. */
  onRunner?: (podId: string, running: boolean) => void;
  /** The host's pod network (VM drivers): its runners give their VMs NICs and publish their ports. */
  network?: HostNetwork;
  /** Intents this daemon holds are accepted before its pods boot (see cluster-first.ts). */
  clusterFirst?: ClusterFirst;
}

export class HostActor {
  private readonly runners = new Map<string, PodRunner>();
  /** Live changes wait until adopt() has matched the log with the VMs found here (a runner must not start without that). */
  private adopted = false;

  constructor(private readonly d: HostActorDeps) {}

  get id(): string {
    return this.d.hostId;
  }

  async join(): Promise<void> {
    const { hostId, daemonId, capacity, driver } = this.d;
    await this.d.store.append(
      hostEvent('host.joined', hostId, { capacity, drivers: [driver.name], daemon: daemonId, version: VERSION, hollow: !driver.capabilities.isolation, maxVm: { cpus: driver.capabilities.maxCpus, memoryMb: driver.capabilities.maxMemoryMb }, reattach: driver.capabilities.reattach }, { id: `${hostId}.joined.${daemonId}.e${(this.d.view.hosts.get(hostId)?.epoch ?? 0) + 1}`, at: Date.now(), by: `host:${hostId}` }),
    );
  }

  /**
   * After catching up, the whole re-attach algorithm: compare the folded log with the VMs that really run on this host.
   * A VM owned by a current run of a pod placed here is handed to that pod's runner (which re-attaches, or reports it
   * gone); a VM no current run owns (its pod was removed, stopped or moved while no daemon ran) is stopped. Only this
   * driver's own work dirs are looked at, so VMs of another data dir are never touched.
   */
  async adopt(): Promise<{ attached: number; orphans: number }> {
    const vms = new Map((await this.d.driver.list()).map((f) => [f.id, f]));
    let attached = 0;
    for (const p of this.d.view.pods.values()) {
      if (p.context.host !== this.d.hostId || !HOLDS_RESOURCES.has(p.state)) continue;
      const id = vmIdOf(p.context.id, p.context.run);
      const f = vms.get(id);
      vms.delete(id);
      if (f?.alive) attached++;
      this.runner(p.context.id).adopt(f ?? null);
    }
    this.adopted = true;
    for (const f of vms.values()) {
      const owner = f.pod ? this.d.view.pods.get(f.pod) : undefined;
      const why = !f.pod ? (f.why ?? 'no state file') : !owner ? `pod ${f.pod} is unknown` : `pod ${f.pod} is ${owner.state} (run ${owner.context.run}${owner.context.host && owner.context.host !== this.d.hostId ? ` on ${owner.context.host}` : ''})`;
      this.d.log.warn({ vm: f.id, pod: f.pod, alive: f.alive }, `stopping vm ${f.id}: no current run owns it (${why})`);
      await this.d.driver.destroy(f).catch((err) => this.d.log.error({ err, vm: f.id }, `could not stop vm ${f.id}`));
    }
    return { attached, orphans: vms.size };
  }

  /** Fed only with live changes about pods: those placed on this host, or with a runner here. */
  onChange(c: Change): void {
    if (c.kind !== 'pod' || !this.adopted) return;
    const id = c.pod.context.id;
    const existing = this.runners.get(id);
    if (existing) existing.poke();
    else if (c.pod.context.host === this.d.hostId && HOLDS_RESOURCES.has(c.pod.state)) this.runner(id).poke();
  }

  /** The view was folded again from the log: every runner looks at its pod again, and pods now placed here get one. */
  reconcileAll(): void {
    if (!this.adopted) return;
    for (const r of this.runners.values()) r.poke();
    for (const p of this.d.view.pods.values()) if (p.context.host === this.d.hostId && HOLDS_RESOURCES.has(p.state) && !this.runners.has(p.context.id)) this.runner(p.context.id).poke();
  }

  /**
   * Self-fencing: every VM of this host is stopped now, before its lease can expire for the others, and no runner starts
   * until the host rejoins (adopt() again, after its loss is recorded). Works without NATS.
   */
  async fence(): Promise<number> {
    this.adopted = false;
    const runners = [...this.runners.values()];
    await Promise.all(runners.map((r) => r.fence()));
    // a VM no runner held (none once adopt() has run) is stopped by the adopt() of the rejoin
    return runners.length;
  }

  /** After a loss (declared by others, or recorded by this host after fencing): join again, as a new epoch, and start over. */
  async rejoin(): Promise<void> {
    await this.join();
    await this.adopt();
  }

  /** The runner of a pod on this host, if it has one. */
  runnerOf(podId: string): PodRunner | undefined {
    return this.runners.get(podId);
  }

  get podCount(): number {
    return this.runners.size;
  }

  /** The daemon stops: its pods keep running (re-attached by the next daemon) unless asked, or unless the driver cannot let them. */
  async leave(reason: string, stopPods = false): Promise<void> {
    const stop = stopPods || !this.d.driver.capabilities.reattach;
    await Promise.all([...this.runners.values()].map((r) => (stop ? r.shutdown(`host ${this.d.hostId} shut down: ${reason}`) : r.detach(`hyperd on ${this.d.hostId} stopped (${reason}); the VM keeps running`))));
    await this.d.store.append(hostEvent('host.left', this.d.hostId, { reason }, { id: `${this.d.hostId}.left.${this.d.daemonId}`, at: Date.now(), by: `host:${this.d.hostId}` }));
  }

  private runner(podId: string): PodRunner {
    let r = this.runners.get(podId);
    if (!r) {
      r = new PodRunner(podId, {
        ...this.d,
        onDone: (id) => {
          this.runners.delete(id);
          this.d.onRunner?.(id, false);
        },
      });
      this.runners.set(podId, r);
      this.d.onRunner?.(podId, true);
    }
    return r;
  }
}
