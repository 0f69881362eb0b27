// Host leases, live: the daemon's side of the lease worker (lease-thread.ts), which renews this daemon's lease, watches
// everyone's and judges silence on a thread of its own. Here: which hosts are alive (for placement), and the worker's
// verdicts handed to the daemon — fence now, recover, this host went silent.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import type { NatsAuth, NatsTls } from '../../nats/connect.js';
import type { ClusterView, HostRecord } from '../../model/cluster-view.js';
import { isSilent, type Lease } from '../../model/lease.js';
import { monoNow, type ToMain, type ToWorker } from './lease-protocol.js';

export { parseHeartbeat, type Heartbeat } from './lease-protocol.js';

export interface LivenessEvents {
  /** The lease ran out by this daemon's clock: stop every pod now, or say no (false) if no other host could take them over. */
  fence(silentMs: number): boolean;
  /** A renewal was acknowledged after a fence: record the loss and rejoin. */
  recover(): void;
  /** Another host has been silent past its lease + margin: declare it lost (if the view agrees). */
  silent(host: string, epoch: number, silentMs: number): void;
}

export class Liveness {
  /** When (monoNow) each host's renewal was last seen, as the worker reported. */
  private readonly seen = new Map<string, number>();
  private readonly startedAt = monoNow();
  private fenced = false;
  private stopped: Promise<void> | null = null;
  events: LivenessEvents | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly view: ClusterView,
    readonly lease: Lease,
    private readonly local: ReadonlySet<string>,
    private readonly log: Logger,
  ) {
    worker.on('message', (m: ToMain) => this.onMessage(m));
    worker.on('error', (err) => log.error({ err }, 'the lease worker failed: this host can no longer renew its lease'));
  }

  /** `leaseFile`: where the worker publishes the lease for processes that outlive the daemon (lease-file.ts). */
  static async open(nats: { servers: string[]; name: string; auth?: NatsAuth; tls?: NatsTls }, view: ClusterView, lease: Lease, daemonId: string, local: ReadonlySet<string>, log: Logger, leaseFile?: string): Promise<Liveness> {
    const worker = new Worker(new URL('./lease-thread.js', import.meta.url), { workerData: { ...nats, lease, daemonId, local: [...local], leaseFile } });
    const l = new Liveness(worker, view, lease, local, log);
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: ToMain) => m.t === 'ready' && resolve());
    });
    l.hostsChanged();
    return l;
  }

  private onMessage(m: ToMain): void {
    switch (m.t) {
      case 'seen':
        for (const [host, at] of m.updates) this.seen.set(host, at);
        return;
      case 'renewed':
        if (m.tookMs > this.lease.leaseMs / 3) this.log.warn({ tookMs: m.tookMs, leaseMs: this.lease.leaseMs }, 'a lease renewal took long to be acknowledged (a busy host or NATS)');
        return;
      case 'renew-failed':
        return void this.log.warn({ err: m.message, silentMs: m.silentMs }, 'could not renew this host\'s lease');
      case 'fence':
        this.fenced = this.events?.fence(m.silentMs) ?? true;
        if (this.fenced) this.log.error({ silentMs: m.silentMs, leaseMs: this.lease.leaseMs }, `this host's lease was not renewed for ${m.silentMs} ms: stopping its pods before another host may start them (self-fencing)`);
        else this.log.warn({ silentMs: m.silentMs, leaseMs: this.lease.leaseMs }, `this host's lease was not renewed for ${m.silentMs} ms; no other host is up to take its pods over, so they keep running`);
        return;
      case 'recover':
        if (!this.fenced) return void this.log.info("this host's lease is renewed again");
        this.fenced = false;
        this.log.warn("NATS acknowledges this host's lease again: recording the loss of its pods and rejoining with a new epoch");
        return this.events?.recover();
      case 'silent':
        return this.events?.silent(m.host, m.epoch, m.silentMs);
      case 'watch-stale':
        return void this.log.warn({ lagMs: m.lagMs }, "the lease watch stopped delivering (a NATS node lost?): no host is judged silent until it is back");
      case 'watch-ok':
        return void this.log.info('the lease watch delivers again: every host\'s lease starts afresh');
    }
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /** The worker judges from the view's hosts: call when they change (`joined`: hosts whose lease starts afresh now). */
  hostsChanged(joined?: string[]): void {
    this.send({ t: 'hosts', hosts: [...this.view.hosts.values()].map((h) => ({ id: h.id, daemon: h.daemon, state: h.state, epoch: h.epoch })), joined });
  }

  /** Renews at once (the first renewal, before the daemon says it is ready, and after a rejoin). */
  renewNow(): void {
    this.send({ t: 'renew' });
  }

  /** A silence reported could not be recorded: report it again at the next check. */
  retrySilent(host: string, epoch: number): void {
    this.send({ t: 'retry-silent', host, epoch });
  }

  joined(host: string): void {
    this.seen.set(host, monoNow());
    this.hostsChanged([host]);
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** When this daemon last saw the host renew (or began watching, if never). */
  lastSeen(host: string): number {
    return this.seen.get(host) ?? this.startedAt;
  }

  /** Hosts that may be given pods: this daemon's own while its lease holds, others while their renewals keep coming. */
  alive(): HostRecord[] {
    const now = monoNow();
    const out: HostRecord[] = [];
    const lease = { ...this.lease, marginMs: 0 };
    for (const h of this.view.hosts.values()) {
      if (h.state !== 'up') continue;
      if (this.local.has(h.id) ? !this.fenced : !isSilent(lease, this.lastSeen(h.id), now)) out.push(h);
    }
    return out;
  }

  /** `left`: every host of this daemon recorded host.left, so no one will declare them lost. */
  stop(left = false): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const done = () => void this.worker.terminate().finally(resolve);
      const timer = setTimeout(done, 2_000);
      this.worker.on('message', (m: ToMain) => m.t === 'stopped' && (clearTimeout(timer), done()));
      this.send({ t: 'stop', left });
    });
    return this.stopped;
  }
}
