// The live side of a pod actor on its host: reconciles the folded pod state with the VM it runs, through the VM and agent
// actors — booting a new VM, or re-attaching to the one a previous daemon left running. Runs only for live events.
import type { Driver, FoundVm, GuestNetwork, Vm, VmConfig } from '../../drivers/driver.js';
import { refusal } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import type { ClusterView, PodRecord } from '../../model/cluster-view.js';
import type { EventStore } from '../../events/store/event-store.js';
import { podEvent } from '../../events/schemas/mod.js';
import { ConflictError } from '../../errors.js';
import { AgentActor } from '../agent/agent-actor.js';
import { emitterFor, linksOf, type Emit } from '../emit.js';
import { VmActor } from '../vm/vm-actor.js';
import { NetworkError, type HostNetwork } from '../../net/host-network.js';
import { holdsNetwork } from '../../net/ipam.js';
import { claimVolumes, namedVolumesOf, releaseVolumes } from '../../volumes/claims.js';
import { TERMINAL } from '../../model/pod-machine.js';
import type { ClusterFirst } from '../cluster-first.js';

export interface PodRunnerDeps {
  hostId: string;
  daemonId: string;
  capacity: { cpus: number; memoryMb: number };
  driver: Driver;
  store: EventStore;
  view: ClusterView;
  log: Logger;
  bootTimeoutMs: number;
  /** Aborted when the daemon stops: owed facts are left to the next start. */
  stopping: AbortSignal;
  /** Called when the runner has nothing left to do for this pod (terminal, moved away or deleted). */
  onDone: (podId: string) => void;
  /** The host's pod network (absent: drivers without NICs, such as hollow): addresses, taps, published ports. */
  network?: HostNetwork;
  /** Awaited before a boot: intents this daemon holds are accepted first (see cluster-first.ts). */
  clusterFirst?: ClusterFirst;
}

/** The VM a run owns is named by the pod and the run, so any later daemon knows which VM belongs to which run. */
export const vmIdOf = (podId: string, run: number) => `${podId}-r${run}`.slice(0, 64);

export class PodRunner {
  private vm: VmActor | null = null;
  private agent: AgentActor | null = null;
  private emit: Emit;
  private readonly started = new Set<string>();
  /** Kill requests delivered by this runner (a retried reconcile must not signal twice). */
  private readonly killsSent = new Set<string>();
  private running: Promise<void> | null = null;
  private dirty = false;
  private done = false;
  private run: number;
  private attempt: number;
  private readonly tenant: string | null;
  /** Set once at daemon start: what was found of this run's VM (null: nothing), to re-attach before anything else. */
  private found: FoundVm | null | undefined = undefined;
  /** Aborted when the host fences itself: owed facts of this run are dropped, not retried. */
  private readonly fenced = new AbortController();
  /** Whether this run's boot already waited for the daemon's intents (cluster-first.ts). */
  private waitedTurn = false;
  /** The tap of this run being made (plugNetwork), settled either way. */
  private plugging: Promise<void> = Promise.resolve();

  constructor(
    private readonly podId: string,
    private readonly d: PodRunnerDeps,
  ) {
    const rec = d.view.pods.get(podId)!;
    this.run = rec.context.run;
    this.attempt = rec.context.attempt;
    this.tenant = rec.context.tenant;
    this.emit = emitterFor(d.store, { pod: podId, tenant: this.tenant }, `r${this.run}a${this.attempt}`, `host:${d.hostId}`, d.log, () => linksOf(d.view.pods.get(podId)?.context), AbortSignal.any([d.stopping, this.fenced.signal]), () => d.view.hostVersions());
  }

  /** The agent of this pod's VM while its containers run here (exec sessions go through it), else null. */
  get execAgent(): AgentActor | null {
    return !this.done && this.agent?.connected ? this.agent : null;
  }

  private get vmId(): string {
    return vmIdOf(this.podId, this.run);
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

  /** At daemon start: take over what a previous daemon left (the VM found for this run, or the news that there is none). */
  adopt(found: FoundVm | null): void {
    this.found = found;
    this.poke();
  }

  /** Stops the VM (daemon shutdown with --stop-pods-on-exit, or a driver whose VMs cannot outlive it) and reports the pod stopped. */
  async shutdown(reason: string): Promise<void> {
    this.done = true;
    await this.running?.catch(() => {});
    if (this.vm) {
      await this.vm.stop(0).catch(() => {});
      await this.emit('pod.stopped', { reason }, 'pod.stopped');
    }
    this.agent?.close();
    await this.unplugNetwork().catch(() => {});
  }

  /**
   * Self-fencing: this host's lease ran out, so another host may soon run the pod. The VM is killed now and nothing is
   * recorded from here on (NATS may be out of reach); the loss is recorded, by whoever sees it first, as pod.lost.
   */
  async fence(): Promise<void> {
    this.done = true;
    this.fenced.abort();
    this.agent?.close();
    const vm = this.vm;
    this.vm = null;
    await vm?.stop(0).catch((err) => this.d.log.error({ err, pod: this.podId }, 'could not stop a fenced VM'));
    await this.unplugNetwork().catch(() => {});
    this.d.onDone(this.podId);
  }

  /** Daemon shutdown that leaves the pod running: the VM keeps going and the next daemon re-attaches. */
  async detach(reason: string): Promise<void> {
    this.done = true;
    await this.running?.catch(() => {});
    if (!this.vm) return;
    await this.emit('vm.detached', { vm: this.vmId, reason }, `vm.detached.${this.d.daemonId}`);
    this.agent?.close();
    this.vm.detach();
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
    if (this.found !== undefined) {
      const found = this.found;
      this.found = undefined;
      this.dirty = true; // whatever the re-attach recorded, look again
      return this.reattach(rec, found);
    }
    const spec = rec.context.spec!;
    switch (rec.state) {
      case 'scheduled': {
        if (this.vm) return;
        // once: under a sustained flood of intents a pod waits one bounded turn, then boots
        const wait = this.waitedTurn ? undefined : this.d.clusterFirst?.turn();
        if (wait) {
          this.waitedTurn = true;
          await wait;
          this.dirty = true; // what changed while waiting is looked at again
          return;
        }
        if (!(await this.admit(rec))) return;
        const refused = refusal(this.d.driver, spec.resources);
        if (refused) return this.emit('vm.failed', { vm: null, reason: refused.message }, 'vm.refused');
        const taken = claimVolumes(this.d.view, rec, this.d.hostId);
        if (taken) return this.emit('vm.failed', { vm: null, reason: taken }, 'vm.volume-taken');
        let nic: Awaited<ReturnType<PodRunner['plugNetwork']>>;
        try {
          nic = await this.plugNetwork(rec);
        } catch (err) {
          if (!(err instanceof NetworkError)) throw err;
          await this.unplugNetwork();
          return this.emit('vm.failed', { vm: null, reason: err.message }, 'vm.no-network');
        }
        this.vm = new VmActor(
          this.d.driver.createVm({ id: this.vmId, podId: this.podId, run: this.run, cpus: spec.resources.cpus, memoryMb: spec.resources.memoryMb, labels: spec.labels, images: [...new Set(spec.containers.map((c) => c.image))], nic: nic?.nic, nicReady: nic?.ready,
            volumes: [...new Set(spec.containers.flatMap((c) => (c.volumes ?? []).map((v) => v.source).filter((s) => s.startsWith('/'))))],
            namedVolumes: namedVolumesOf(rec), tenant: rec.context.tenant ?? 'default' }),
          this.d.hostId,
          this.d.driver.name,
          this.emit,
        );
        await this.vm.boot(this.d.bootTimeoutMs, (message) => this.d.log.info({ pod: this.podId }, message));
        return;
      }
      case 'booting':
        // a boot no daemon of this host started (it cannot be ours: re-attach handled the ones found at start)
        if (!this.vm) await this.emit('vm.failed', { vm: rec.context.vm, reason: `lost during a restart of hyperd on ${this.d.hostId}` }, 'vm.lost-booting');
        return;
      case 'booted':
        if (!this.vm) return this.lost(rec, `vm lost: hyperd on ${this.d.hostId} restarted and the ${this.d.driver.name} driver cannot re-attach`);
        if (!this.agent) {
          this.agent = this.newAgent();
          await this.agent.connect(this.vm.vm, this.d.bootTimeoutMs, rec.context.name ?? this.podId, true, this.guestNetwork(rec));
        }
        return;
      case 'starting':
      case 'running':
        if (!this.vm || !this.agent?.connected) return this.lost(rec, `vm lost: hyperd on ${this.d.hostId} restarted and the ${this.d.driver.name} driver cannot re-attach`);
        if (rec.context.kill) await this.deliverKill(rec, rec.context.kill);
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

  /** hyper kill: the signal to the running containers asked for, once; pod.killed says it was delivered. */
  private async deliverKill(rec: PodRecord, k: NonNullable<PodRecord['context']['kill']>): Promise<void> {
    if (this.killsSent.has(k.id)) return;
    this.killsSent.add(k.id);
    const targets = Object.entries(rec.context.containers).filter(([n, s]) => s.state === 'running' && (!k.container || n === k.container)).map(([n]) => n);
    await Promise.all(targets.map((c) => this.agent!.signal(c, k.signal).catch((err) => this.d.log.warn({ err, pod: this.podId, container: c }, `could not send signal ${k.signal} to ${c}`))));
    await this.emit('pod.killed', { intent: k.id, signal: k.signal, containers: targets }, `killed.${k.id}`);
  }

  /**
   * This run's network as its VM starts: assigned once (net.assigned; a run that has one keeps it) and its ports
   * published before, its tap made while the VM starts (ready; ~20 ms of spawns a restored clone need not wait for).
   * Undefined for a pod without a network. A port or address that cannot be had is a NetworkError.
   */
  private async plugNetwork(rec: PodRecord): Promise<{ nic: VmConfig['nic']; ready: Promise<void> } | undefined> {
    const network = this.d.network;
    if (!network || network.mode === 'none' || rec.context.spec!.network === 'none') return undefined;
    let net = rec.context.network?.run === this.run && rec.context.network.host === this.d.hostId ? rec.context.network : null;
    if (!net) {
      net = await network.assign(rec);
      if (!net) return undefined;
      await this.emit('net.assigned', net, 'net.assigned');
    }
    if (net.ports.length) await network.publish(net, this.podId);
    const nic = network.nicOf(this.podId, net);
    const ready = network.plug(this.podId, net).then(() => {});
    // the VM's boot reports a tap that could not be made; the run's end waits for it before it unplugs
    this.plugging = ready.catch(() => {});
    return { nic: nic.mode === 'tap' ? { kind: 'nic', mode: 'tap', tap: nic.tap, mac: nic.mac } : { kind: 'nic', mode: 'user', mac: nic.mac, forwards: nic.forwards }, ready };
  }

  /** The run's network removed, once a tap still being made is there to remove. */
  private async unplugNetwork(): Promise<void> {
    await this.plugging;
    await this.d.network?.unplug(this.podId);
  }

  /**
   * What the guest is told of its network: address, route, DNS, and /etc/hosts with the pod's own names. On a bridge the
   * host's pod DNS server comes first (it knows every neighbour, also those started later), the pod's upstream servers
   * after it for when no daemon answers; without that server, /etc/hosts lists the neighbours present now.
   */
  private guestNetwork(rec: PodRecord): GuestNetwork | undefined {
    const net = rec.context.network;
    if (!net || net.run !== this.run) return undefined;
    const spec = rec.context.spec!;
    const own = [rec.context.name ?? this.podId, ...spec.containers.map((c) => c.name)];
    const hosts = [`${net.ip} ${[...new Set(own)].join(' ')}`];
    const podDns = net.mode === 'bridge' ? this.d.network?.dnsServer : null;
    if (podDns) return { address: net.ip, prefix: net.prefix, gateway: net.gateway, mtu: 1500, dns: [podDns, ...net.dns.filter((s) => s !== podDns)].slice(0, 3), search: spec.dnsSearch ?? [], hosts };
    if (net.mode === 'bridge') {
      for (const p of this.d.view.pods.values()) {
        const n = p.context.network;
        if (p.context.id === this.podId || !p.context.name || p.context.tenant !== rec.context.tenant || !holdsNetwork(p.state, p.context.run, p.context.host ?? '', n, this.d.hostId)) continue;
        hosts.push(`${n.ip} ${p.context.name}`);
      }
    }
    return { address: net.ip, prefix: net.prefix, gateway: net.gateway, mtu: 1500, dns: net.dns, search: spec.dnsSearch ?? [], hosts };
  }

  private newAgent(): AgentActor {
    return new AgentActor({ emit: this.emit, podId: this.podId, tenant: this.tenant, vmId: this.vmId, nc: this.d.store.nc, log: this.d.log, stopping: this.d.stopping });
  }

  /**
   * Reconciles the log with what runs on this host after a daemon restart: a live VM of this run is re-attached and its
   * agent's resync turned into the facts the log lacks; a VM that is gone is reported with the reason.
   */
  private async reattach(rec: PodRecord, found: FoundVm | null): Promise<void> {
    const { driver, hostId } = this.d;
    if (rec.state === 'scheduled') {
      // not booted yet as far as the log knows: a VM left from a boot that was never recorded is stale
      if (found) await driver.destroy(found);
      return;
    }
    const report = (reason: string) => (rec.state === 'stopping' ? this.emit('pod.stopped', { reason }, 'pod.stopped') : this.lost(rec, reason));
    if (!driver.capabilities.reattach) return report(`vm lost: hyperd on ${hostId} restarted and the ${driver.name} driver cannot re-attach`);
    if (!found) return report(`vm ${this.vmId} was not found on ${hostId} when hyperd restarted (its work dir is gone)`);
    if (!found.alive) {
      await driver.destroy(found).catch((err) => this.d.log.warn({ err, pod: this.podId }, 'could not remove a dead VM\'s work dir'));
      return report(`vm ${this.vmId} ended while hyperd on ${hostId} was not running: ${found.why ?? 'QEMU is gone'}`);
    }
    const timeoutMs = rec.state === 'booting' && rec.context.bootDeadline ? Math.max(2_000, rec.context.bootDeadline - Date.now()) : 15_000;
    let vm: Vm;
    try {
      vm = await driver.attach(found, { timeoutMs });
    } catch (err) {
      this.d.log.error({ err, pod: this.podId, vm: found.id }, 'could not re-attach to a running VM');
      await driver.destroy(found).catch(() => {});
      return report(`hyperd on ${hostId} could not re-attach to vm ${this.vmId}: ${(err as Error).message}`);
    }
    this.vm = new VmActor(vm, hostId, driver.name, this.emit);
    this.agent = this.newAgent();
    const configure = rec.state === 'booting' || rec.state === 'booted';
    if (rec.state === 'booting') {
      const bootMs = rec.context.bootDeadline ? Math.max(0, Date.now() - (rec.context.bootDeadline - this.d.bootTimeoutMs)) : 0;
      await this.emit('vm.booted', { vm: this.vmId, bootMs }, 'vm.booted');
    }
    if (!(await this.agent.connect(vm, timeoutMs, rec.context.name ?? this.podId, configure, this.guestNetwork(rec)))) return;
    const processes = this.agent.resynced;
    await this.emit('vm.attached', { vm: this.vmId, daemon: this.d.daemonId, resync: processes ? 'resynced' : 'too-old', processes: processes?.length ?? 0 }, `vm.attached.${this.d.daemonId}`);
    if (!processes) this.d.log.warn({ pod: this.podId, vm: this.vmId }, `the agent of pod ${this.podId} is too old to resync: the pod keeps running, but its exits and output are not followed until it is stopped and started again`);
    const fresh = this.d.view.pods.get(this.podId);
    if (fresh) for (const k of await this.agent.adopt(fresh.context)) this.started.add(k);
    this.d.log.info({ pod: this.podId, vm: this.vmId, bootId: this.agent.bootId, processes: processes?.length }, 're-attached to a running VM');
  }

  /** Admission: the placement was decided on a possibly stale view; the folded (total-order) usage is the truth. */
  private async admit(rec: PodRecord): Promise<boolean> {
    const u = this.d.view.usageOf(this.d.hostId);
    // memory as the scheduler counts it: measured where this host measured its VMs (host.usage), else given
    if (u.cpus <= this.d.capacity.cpus && u.measuredMb <= this.d.capacity.memoryMb) return true;
    const reason = `over capacity: ${u.cpus}/${this.d.capacity.cpus} vCPU, ${u.measuredMb}/${this.d.capacity.memoryMb} MB${u.measuredMb === u.memoryMb ? ' committed' : ` in use (${u.memoryMb} MB given)`}`;
    const e = podEvent('pod.rejected', this.podId, { host: this.d.hostId, reason }, { id: `${this.podId}.r${this.run}a${this.attempt}.rejected`, at: Date.now(), by: `host:${this.d.hostId}`, tenant: this.tenant, ...linksOf(rec.context) });
    await this.d.store.append(e, { expectLastSeq: rec.seq }).catch((err) => {
      if (!(err instanceof ConflictError)) throw err;
    });
    return false;
  }

  private async lost(rec: PodRecord, reason: string): Promise<void> {
    if (rec.state === 'booting') return this.emit('vm.failed', { vm: rec.context.vm, reason }, 'vm.lost-booting');
    await this.emit('vm.exited', { vm: rec.context.vm ?? this.vmId, reason }, 'vm.lost');
  }

  private async finish(rec: PodRecord | undefined): Promise<void> {
    this.done = true;
    if (this.vm) {
      await this.vm.stop(rec?.context.stopGraceMs ?? 0).catch((err) => this.d.log.warn({ err, pod: this.podId }, 'vm stop failed'));
      this.agent?.close();
      this.vm = null;
      if (rec && rec.context.run === this.run && rec.state !== 'deleted') await this.emit('vm.exited', { vm: this.vmId, reason: `pod ${rec.state}` }, 'vm.exited');
    }
    await this.unplugNetwork().catch((err) => this.d.log.warn({ err, pod: this.podId }, 'could not remove the pod\'s network'));
    releaseVolumes({ id: this.podId, name: rec?.context.name ?? null, tenant: this.tenant }, this.d.hostId);
    this.d.onDone(this.podId);
  }
}
