// The live side of a pod actor on its host: reconciles the folded pod state with the VM it runs, through the VM and agent actors. Runs only for live events.
import type { Driver } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import type { ClusterView, PodRecord } from '../../model/cluster-view.js';
import type { EventStore } from '../../events/store/event-store.js';
import { podEvent } from '../../events/schemas/mod.js';
import { ConflictError } from '../../errors.js';
import { AgentActor } from '../agent/agent-actor.js';
import { emitterFor, linksOf, type Emit } from '../emit.js';
import { VmActor } from '../vm/vm-actor.js';
import { publishLog } from '../../events/store/logs.js';
import { TERMINAL } from '../../model/pod-machine.js';

export interface PodRunnerDeps {
  hostId: string;
  capacity: { cpus: number; memoryMb: number };
  driver: Driver;
  store: EventStore;
  view: ClusterView;
  log: Logger;
  bootTimeoutMs: number;
  /** Called when the runner has nothing left to do for this pod (terminal, moved away or deleted). */
  onDone: (podId: string) => void;
}

export class PodRunner {
  private vm: VmActor | null = null;
  private agent: AgentActor | null = null;
  private emit: Emit;
  private readonly started = new Set<string>();
  private running: Promise<void> | null = null;
  private dirty = false;
  private done = false;
  private run: number;
  private attempt: number;

  constructor(
    private readonly podId: string,
    private readonly d: PodRunnerDeps,
  ) {
    const rec = d.view.pods.get(podId)!;
    this.run = rec.context.run;
    this.attempt = rec.context.attempt;
    this.emit = emitterFor(d.store, podId, `r${this.run}a${this.attempt}`, `host:${d.hostId}`, d.log, () => linksOf(d.view.pods.get(podId)?.context));
  }

  /** Asks for a reconcile; calls coalesce while one is running. */
  poke(): void {
    if (this.done) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = this.reconcileLoop();
  }

  /** Stops the VM (daemon shutdown) and reports the pod stopped. */
  async shutdown(reason: string): Promise<void> {
    this.done = true;
    await this.running?.catch(() => {});
    if (this.vm) {
      await this.vm.stop(0).catch(() => {});
      await this.emit('pod.stopped', { reason }, 'pod.stopped');
    }
    this.agent?.close();
  }

  private async reconcileLoop(): Promise<void> {
    try {
      do {
        this.dirty = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.d.log.error({ err, pod: this.podId }, 'pod reconcile failed');
        }
      } while (this.dirty && !this.done);
    } finally {
      // cleared in the same microtask as the last dirty check: a poke arriving later starts a new loop instead of being lost
      this.running = null;
    }
  }

  private async reconcile(): Promise<void> {
    const rec = this.d.view.pods.get(this.podId);
    if (!rec || rec.context.host !== this.d.hostId || rec.context.run !== this.run || rec.context.attempt !== this.attempt || TERMINAL.has(rec.state)) {
      return this.finish(rec);
    }
    const spec = rec.context.spec!;
    switch (rec.state) {
      case 'scheduled':
        if (this.vm) return;
        if (!(await this.admit(rec))) return;
        this.vm = new VmActor(
          this.d.driver.createVm({ id: `${this.podId}-r${this.run}`.slice(0, 64), podId: this.podId, cpus: spec.resources.cpus, memoryMb: spec.resources.memoryMb, labels: spec.labels, images: [...new Set(spec.containers.map((c) => c.image))] }),
          this.d.hostId,
          this.d.driver.name,
          this.emit,
        );
        await this.vm.boot(this.d.bootTimeoutMs, (message) => this.d.log.info({ pod: this.podId }, message));
        return;
      case 'booting':
        // a boot we did not start: this daemon restarted and cannot re-attach to that VM
        if (!this.vm) await this.emit('vm.failed', { vm: rec.context.vm, reason: `lost during a restart of hyperd on ${this.d.hostId} (the ${this.d.driver.name} driver cannot re-attach)` }, 'vm.lost-booting');
        return;
      case 'booted':
        if (!this.vm) return this.lost(rec);
        if (!this.agent) {
          this.agent = new AgentActor(this.emit, (c, stream, data) => publishLog(this.d.store.nc, this.podId, c, stream, data));
          await this.agent.connect(this.vm.vm, this.d.bootTimeoutMs, rec.context.name ?? this.podId);
        }
        return;
      case 'starting':
      case 'running':
        if (!this.vm || !this.agent?.connected) return this.lost(rec);
        for (const c of spec.containers) {
          const st = rec.context.containers[c.name];
          const key = `${c.name}#${st.restarts}`;
          if ((st.state === 'waiting' || st.state === 'restarting') && !this.started.has(key)) {
            this.started.add(key);
            if (st.state === 'restarting') await new Promise((r) => setTimeout(r, Math.min(10_000, 100 * 2 ** (st.restarts - 1))));
            await this.agent.start(c, st.restarts);
          }
        }
        return;
      case 'stopping': {
        const running = Object.entries(rec.context.containers).filter(([, s]) => s.state === 'running').map(([n]) => n);
        await this.agent?.terminateAll(running);
        await this.vm?.stop(rec.context.stopGraceMs);
        this.agent?.close();
        this.vm = null;
        await this.emit('pod.stopped', { reason: rec.context.deleteRequested ? 'deleted' : 'stop requested' }, 'pod.stopped');
        return;
      }
    }
  }

  /** Admission: the placement was decided on a possibly stale view; the folded (total-order) usage is the truth. */
  private async admit(rec: PodRecord): Promise<boolean> {
    const u = this.d.view.usageOf(this.d.hostId);
    if (u.cpus <= this.d.capacity.cpus && u.memoryMb <= this.d.capacity.memoryMb) return true;
    const reason = `over capacity: ${u.cpus}/${this.d.capacity.cpus} vCPU, ${u.memoryMb}/${this.d.capacity.memoryMb} MB committed`;
    const e = podEvent('pod.rejected', this.podId, { host: this.d.hostId, reason }, { id: `${this.podId}.r${this.run}a${this.attempt}.rejected`, at: Date.now(), by: `host:${this.d.hostId}`, ...linksOf(rec.context) });
    await this.d.store.append(e, { expectLastSeq: rec.seq }).catch((err) => {
      if (!(err instanceof ConflictError)) throw err;
    });
    return false;
  }

  private async lost(rec: PodRecord): Promise<void> {
    await this.emit('vm.exited', { vm: rec.context.vm ?? 'unknown', reason: `vm lost: hyperd on ${this.d.hostId} restarted and the ${this.d.driver.name} driver cannot re-attach` }, 'vm.lost');
  }

  private async finish(rec: PodRecord | undefined): Promise<void> {
    this.done = true;
    if (this.vm) {
      await this.vm.stop(rec?.context.stopGraceMs ?? 0).catch((err) => this.d.log.warn({ err, pod: this.podId }, 'vm stop failed'));
      this.agent?.close();
      this.vm = null;
      if (rec && rec.context.run === this.run && rec.state !== 'deleted') await this.emit('vm.exited', { vm: `${this.podId}-r${this.run}`.slice(0, 64), reason: `pod ${rec.state}` }, 'vm.exited');
    }
    this.d.onDone(this.podId);
  }
}
