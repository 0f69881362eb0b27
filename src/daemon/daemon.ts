// hyperd: connects to (or embeds) NATS, folds the event log, and runs the scheduler and host actors on live events.
import { UsageMeter } from '../actors/host/usage-meter.js';
import { ExecService } from '../actors/exec/exec-service.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createDriver, type TemplateMode } from '../drivers/registry.js';
import type { Driver } from '../drivers/driver.js';
import type { PoolSize } from '../drivers/qemu/pool.js';
import { HostNetwork, probeNetworkMode, type NetworkMode } from '../net/host-network.js';
import type { HollowOptions } from '../drivers/hollow/driver.js';
import type { Logger } from '../log.js';
import { connectNats, type NatsConnection } from '../nats/connect.js';
import { startNatsServer, type NatsServer } from '../nats/server.js';
import { EventStore } from '../events/store/event-store.js';
import { loadView } from '../events/store/load-view.js';
import { SNAPSHOT_EVERY, SnapshotStore } from '../events/store/snapshots.js';
import { AUDIT_VIEW } from '../events/schemas/subjects.js';
import { DockerApi, parseApiAddress } from '../docker/server.js';
import { isTransient } from '../nats/errors.js';
import type { Change, ClusterView } from '../model/cluster-view.js';
import { HostActor } from '../actors/host/live.js';
import { Liveness } from '../actors/host/liveness.js';
import { leaseFileOf } from '../actors/host/lease-file.js';
import { VERSION } from '../version.js';
import { LossWatcher } from '../actors/host/loss.js';
import { leaseOf } from '../model/lease.js';
import { Scheduler } from '../actors/scheduler/live.js';
import { Acceptor } from '../actors/acceptor/live.js';
import { ClusterFirst } from '../actors/cluster-first.js';
import { StreamRewoundError } from '../errors.js';
import { REWIND_ADVICE } from '../events/store/rewind.js';
import { announceFile } from './paths.js';
import { lockDataDir, type DataDirLock } from './lock.js';
import { ensureTls, natsTls, serverNames, type TlsFiles } from '../auth/tls.js';
import { clientCredentialsFile, ensureCredentials, natsAuthorization, type ClusterCredentials, type TenantUser } from '../auth/credentials.js';

const isLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '::1';

export interface DaemonOptions {
  /** NATS servers; empty starts an embedded single-node nats-server under dataDir. */
  nats: string[];
  hostId: string;
  dataDir: string;
  driver: string;
  log: Logger;
  /** Run this many hollow hosts in this process (hollow driver only), named <hostId>-<n>. */
  hollowHosts?: number;
  hollow?: HollowOptions;
  capacity?: { cpus: number; memoryMb: number };
  replicas?: number;
  /** How long a host runs pods without renewing its lease (default 3 s): the failover time, roughly. */
  hostLeaseMs?: number;
  schedulerGraceMs?: number;
  bootTimeoutMs?: number;
  /** Registries to pull from over plain HTTP. */
  insecureRegistries?: string[];
  /** VM templates (qemu driver): made on need, only those made ahead of time (the default), or never; shared by tenants or not. */
  templates?: TemplateMode;
  shareTemplates?: boolean;
  /** Paused VMs kept ready per size (with templates on). */
  poolSizes?: PoolSize[];
  /** A QEMU started ahead per template in use (default true; hyperd --no-spare-qemu). */
  spareQemus?: boolean;
  /**
   * Save a snapshot after this many folded events (0 disables). Default: SNAPSHOT_EVERY, and no sooner than nine times
   * the last save took after it: a save writes only the blocks of pods that changed, but on a large busy cluster that may
   * be most of them.
   */
  snapshotEvery?: number;
  /** Stop every pod when the daemon stops (the old behaviour); by default pods keep running and the next daemon re-attaches. */
  stopPodsOnExit?: boolean;
  /**
   * How this host's memory is counted (hyperd --memory-accounting): 'measured' (default) records what its VMs really take
   * (host.usage, every measureEveryMs) where its driver can measure it, so capacity counts use; 'committed' counts what
   * VMs are given.
   */
  memoryAccounting?: 'measured' | 'committed';
  /** How often VMs are measured (hyperd --measure-every; default 15 s). */
  measureEveryMs?: number;
  /** Members of this group may read the embedded NATS's client credentials (as docker's socket group). */
  group?: string;
  /** Credentials for an external NATS (--nats): the host role's user and password. */
  natsAuth?: { user: string; password: string };
  /** Where the embedded nats-server listens (default 127.0.0.1, a free port); beyond loopback it requires TLS. */
  listen?: { host: string; port?: number };
  /** TLS on the embedded server's client port even on loopback (always on beyond it). */
  tls?: boolean;
  /** The CA to verify an external NATS (--nats tls://…) by. */
  natsCa?: string;
  /** Where to serve the Docker Engine API (unix://PATH or tcp://127.0.0.1:PORT; default DATA_DIR/docker.sock; false: not at all). */
  dockerApi?: string | false;
  dockerApiInsecureBind?: boolean;
  /** The pod network of this host (VM drivers only): auto probes for bridge (root, /dev/net/tun), else user. */
  network?: { mode: 'auto' | NetworkMode; bridge: string; cidr: string };
}

export const DEFAULT_NETWORK = { mode: 'auto' as const, bridge: 'hyper0', cidr: '10.88.0.0/16' };

/**
 * What a host offers when not told: vCPUs are threads that sleep while their guest idles, so they are overcommitted
 * (16 per core by default, OpenStack Nova's cpu_allocation_ratio; an idle pod costs far less than a core); guest memory
 * is committed one for one by default (90% of RAM, the rest for the host and the VMMs' own memory), or overcommitted
 * by `memoryOvercommit` where guests are known to touch less than they are given.
 */
export const DEFAULT_OVERCOMMIT = { cpu: 16, memory: 1 };
export function defaultCapacity(o: { cpuOvercommit?: number; memoryOvercommit?: number } = {}): { cpus: number; memoryMb: number } {
  return {
    cpus: Math.round(cpus().length * (o.cpuOvercommit ?? DEFAULT_OVERCOMMIT.cpu)),
    memoryMb: Math.floor((totalmem() / 1024 / 1024) * 0.9 * (o.memoryOvercommit ?? DEFAULT_OVERCOMMIT.memory)),
  };
}

/** How this daemon's VMs start, for hyper info: which templates it uses and the pool it keeps. */
export function vmStartsSummary(o: Pick<DaemonOptions, 'templates' | 'poolSizes' | 'shareTemplates' | 'spareQemus'>): string {
  const mode = o.templates ?? 'existing';
  const templates = mode === 'off' ? 'every VM boots cold (--no-templates)' : mode === 'on' ? 'from templates, made when a size first needs one' : 'from templates made by hyper template build, else cold';
  const pool = o.poolSizes?.length ? `; a pool of ${o.poolSizes.map((p) => `${p.count} × ${p.cpus} vCPU / ${p.memoryMb} MB${p.tenant ? ` for tenant ${p.tenant}` : ''}`).join(', ')} paused VMs` : '';
  const spare = mode !== 'off' && o.spareQemus !== false ? ', each with a QEMU started ahead' : '';
  return `${templates}${mode !== 'off' ? (o.shareTemplates ? ' (shared by tenants)' : ' (per tenant)') : ''}${spare}${pool}`;
}

export interface ReadyStats { ms: number; fromSnapshot: number; folded: number; pods: number; seq: number; reattaching: number; orphans: number }

export class Daemon {
  readonly daemonId: string;
  private meters: UsageMeter[] = [];
  private nc!: NatsConnection;
  private acceptNc: NatsConnection | null = null;
  private server: NatsServer | null = null;
  private store!: EventStore;
  view!: ClusterView;
  private hosts: HostActor[] = [];
  private network: HostNetwork | undefined;
  private driver: Driver | undefined;
  /** The pod network mode in use (null: a driver without NICs). */
  networkMode: NetworkMode | null = null;
  /** How pods are networked here, in words (hyperd.json, for hyper info). */
  private networkSummary: string | null = null;
  private readonly hostById = new Map<string, HostActor>();
  /** Which host actor runs a pod: a change goes to it and to the pod's host, not to every hollow host of the daemon. */
  private readonly runnerHost = new Map<string, HostActor>();
  private scheduler!: Scheduler;
  private acceptor: Acceptor | null = null;
  private readonly clusterFirst = new ClusterFirst();
  private execs: ExecService | null = null;
  private docker: DockerApi | null = null;
  /** DOCKER_HOST for this daemon's Docker API, once it listens. */
  private dockerHost: string | null = null;
  private liveness!: Liveness;
  private loss!: LossWatcher;
  private recovering: Promise<void> | null = null;
  private readonly fencedEpochs = new Map<string, number>();
  private guardTimer: NodeJS.Timeout | null = null;
  private readonly followAbort = new AbortController();
  private following: Promise<void> | null = null;
  private sinceSnapshot = 0;
  private snapshotting = false;
  /** Saves cost what changed since the last one, but a busy large cluster may change everything: at most ~10% of the time. */
  private snapshotQuietUntil = 0;
  private lock: DataDirLock | null = null;
  private creds: ClusterCredentials | null = null;
  private tls: TlsFiles | null = null;
  private readonly stopping = new AbortController();
  ready!: ReadyStats;

  private constructor(private readonly o: DaemonOptions) {
    this.daemonId = `${o.hostId}-${Date.now().toString(36)}`.slice(0, 64);
  }

  /**
   * Boots a daemon; a start that NATS did not answer in time (a busy or electing cluster) is undone and tried again, a
   * few times, instead of leaving the host down: daemons wait for NATS, they do not give up on it at once.
   */
  static async start(o: DaemonOptions): Promise<Daemon> {
    for (let attempt = 1; ; attempt++) {
      const d = new Daemon(o);
      try {
        await d.boot();
        return d;
      } catch (err) {
        await d.stop('start failed').catch(() => {});
        if (attempt >= 5 || !isTransient(err)) throw err;
        o.log.warn({ err, attempt }, `hyperd could not start: NATS did not answer in time (${(err as Error).message}); trying again`);
        await new Promise((r) => setTimeout(r, 1_000 * attempt));
      }
    }
  }

  /** The URLs this host's own clients use: loopback for the embedded server (its certificate names 127.0.0.1 too). */
  get natsUrls(): string[] {
    if (!this.server) return this.o.nats;
    const host = this.listenHost === '0.0.0.0' ? '127.0.0.1' : this.listenHost;
    return [`${this.tls ? 'tls' : 'nats'}://${host}:${this.server.port}`];
  }

  /** The URLs remote clients use (written into tenants' credentials): every address the server listens on. */
  get advertisedUrls(): string[] {
    if (!this.server) return this.o.nats;
    const hosts = this.listenHost === '0.0.0.0' ? serverNames('0.0.0.0').filter((n) => isIP(n) && n !== '127.0.0.1') : [this.listenHost];
    return hosts.map((h) => `${this.tls ? 'tls' : 'nats'}://${h}:${this.server!.port}`);
  }

  private get listenHost(): string {
    return this.o.listen?.host ?? '127.0.0.1';
  }

  private async boot(): Promise<void> {
    const t0 = performance.now();
    const { log } = this.o;
    mkdirSync(this.o.dataDir, { recursive: true });
    // first of all: a second daemon on this data dir must not touch the first one's NATS, VMs or announce file
    this.lock = await lockDataDir(this.o.dataDir);
    if (this.o.nats.length === 0) {
      // the embedded server requires credentials: only who may read them (root, or --group) drives this daemon
      this.creds = ensureCredentials(this.o.dataDir, { group: this.o.group });
      // beyond loopback every client speaks TLS (and verifies the server by this host's CA)
      if (this.o.tls || !isLoopback(this.listenHost)) this.tls = ensureTls(this.o.dataDir, serverNames(this.listenHost));
      this.server = await startNatsServer({ ...this.natsOptions(), port: this.o.listen?.port });
      log.info({ url: this.server.url, pid: this.server.pid, credentials: this.creds.dir }, 'started embedded nats-server');
      this.superviseNats(this.server);
    }
    const tls = this.tls ? { caFile: this.tls.ca } : this.o.natsCa ? { caFile: this.o.natsCa } : undefined;
    const natsOpts = { auth: this.creds?.host ?? this.o.natsAuth, tls };
    this.nc = await connectNats(this.natsUrls, `hyperd:${this.o.hostId}`, natsOpts);
    const lease = leaseOf(this.o.hostLeaseMs);
    this.store = await EventStore.open(this.nc, { replicas: this.o.replicas, heartbeatTtlMs: Math.max(30_000, lease.leaseMs * 10) });

    this.store.onStall = (fromSeq, times) => log.warn({ fromSeq, times }, `a read of the event stream stopped delivering though more was stored (a NATS node lost?): reading again from sequence ${fromSeq}`);
    const loaded = await loadView(this.store);
    this.view = loaded.view;
    // tenants are facts in the log: let in those it names (the server started with hosts and the admin client only)
    if (this.view.tenants.size) this.reloadAuth();

    const driver = (this.driver = await createDriver(this.o.driver, {
      dataDir: this.o.dataDir,
      hollow: this.o.hollow,
      bootTimeoutMs: this.o.bootTimeoutMs,
      insecureRegistries: this.o.insecureRegistries,
      templates: this.o.templates ?? 'existing',
      shareTemplates: this.o.shareTemplates,
      poolSizes: this.o.poolSizes,
      spareQemus: this.o.spareQemus,
      onPoolFailed: (why) => log.warn({ why }, why),
      onColdBoot: (vm, why) => log.info({ vm, why }, `vm ${vm} boots cold: ${why}`),
      onTemplateFailed: (why) => log.warn({ why }, why),
      onAccelerator: (v) => log.info({ accel: v.accel, reason: v.reason, cached: Boolean(v.cached) }, `accelerator: ${v.accel}`),
    }));
    const offered = this.o.capacity ?? defaultCapacity();
    // a pool's ready VMs are this host's too: pods get what they leave
    const reserved = driver.reservedMemoryMb ?? 0;
    const capacity = reserved ? { ...offered, memoryMb: Math.max(0, offered.memoryMb - reserved) } : offered;
    if (reserved) log.info({ reservedMb: reserved }, `the VM pool holds ${reserved} MB: pods are offered ${capacity.memoryMb} MB`);
    const ids = this.o.hollowHosts ? Array.from({ length: this.o.hollowHosts }, (_, i) => `${this.o.hostId}-${i}`) : [this.o.hostId];
    if (this.o.hollowHosts && this.o.driver !== 'hollow') throw new Error('--hollow-hosts needs --driver hollow');
    const bootTimeoutMs = this.o.bootTimeoutMs ?? 30_000;
    this.network = driver.capabilities.isolation ? await this.openNetwork(ids[0]) : undefined;
    const network = this.network;
    driver.prepare?.({ cpus: 1, memoryMb: 256, nic: this.networkMode !== null });
    this.hosts = ids.map((hostId) => {
      const onRunner = (pod: string, running: boolean) => {
        if (running) this.runnerHost.set(pod, host);
        else if (this.runnerHost.get(pod) === host) this.runnerHost.delete(pod);
      };
      const host: HostActor = new HostActor({ hostId, daemonId: this.daemonId, capacity, driver, store: this.store, view: this.view, log, bootTimeoutMs, stopping: this.stopping.signal, onRunner, network, clusterFirst: this.clusterFirst });
      this.hostById.set(hostId, host);
      return host;
    });
    if (!driver.capabilities.reattach) log.warn({ driver: driver.name }, `the ${driver.name} driver cannot re-attach to VMs: its pods stop when hyperd stops, and are reported lost if it crashes`);

    const local = new Set(ids);
    // leases on a connection of their own: renewals and their acks do not queue behind a flood of events
    this.liveness = await Liveness.open({ servers: this.natsUrls, name: `hyperd:${this.o.hostId}:lease`, ...natsOpts }, this.view, lease, this.daemonId, local, log, leaseFileOf(this.o.dataDir));
    if (driver.guardFencing) this.guardFencing(driver.guardFencing.bind(driver));
    this.liveness.events = { fence: () => this.fenceIfOthers(), recover: () => void this.recover(), silent: (h, epoch, ms) => this.loss.onSilent(h, epoch, ms) };
    this.loss = new LossWatcher({ view: this.view, store: this.store, liveness: this.liveness, daemonId: this.daemonId, local, log });
    this.scheduler = new Scheduler({ view: this.view, store: this.store, daemonId: this.daemonId, aliveHosts: () => this.liveness.alive(), log, graceMs: this.o.schedulerGraceMs });

    this.following = this.follow();
    // declared lost while this daemon was away: its old runs end (restarted elsewhere, or failed) before it rejoins
    for (const id of ids) await this.loss.endRunsOn(id);
    await Promise.all(this.hosts.map((h) => h.join()));
    this.liveness.renewNow();
    if (driver.measureMemory && this.o.memoryAccounting !== 'committed') {
      const measuring = driver as typeof driver & { measureMemory(): Promise<Map<string, number>> };
      this.meters = ids.map((hostId) => new UsageMeter({ hostId, daemonId: this.daemonId, driver: measuring, store: this.store, view: this.view, log, everyMs: this.o.measureEveryMs ?? 15_000 }));
      for (const m of this.meters) m.start();
    }
    let reattaching = 0;
    let orphans = 0;
    for (const h of this.hosts) {
      const r = await h.adopt();
      reattaching += r.attached;
      orphans += r.orphans;
    }
    await this.network?.restore().catch((err) => log.error({ err }, 'could not restore the pod network\'s port rules'));
    this.scheduler.considerAll();
    // intents on a connection of their own: their deliveries and the accepted facts' acks do not queue behind the event flood
    this.acceptNc = await connectNats(this.natsUrls, `hyperd:${this.o.hostId}:accept`, natsOpts);
    this.acceptor = new Acceptor(this.acceptNc, this.store.over(this.acceptNc), this.view, this.daemonId, log, { backlog: this.clusterFirst, onAccepted: (pod) => this.scheduler.placeAccepted(pod) });
    await this.acceptor.start();
    this.execs = new ExecService({ nc: this.nc, store: this.store, view: this.view, hosts: () => this.hosts, log, stopping: this.stopping.signal });
    this.execs.start();
    this.answerAudits();
    await this.serveDockerApi(ids, driver.name);

    this.ready = { ms: Math.round(performance.now() - t0), fromSnapshot: loaded.fromSnapshot, folded: loaded.folded, pods: this.view.pods.size, seq: this.view.seq, reattaching, orphans };
    this.announce();
    log.info({ ...this.ready, daemon: this.daemonId, hosts: ids.length, driver: driver.name, nats: this.natsUrls }, 'hyperd ready');
  }

  /**
   * The embedded nats-server is part of the daemon: if it dies (killed, OOM), start it again on the same store and port,
   * so the daemon's connection reconnects by itself and nothing is lost (JetStream's store is on disk).
   */
  private superviseNats(server: NatsServer): void {
    void server.exited.then(async (code) => {
      if (this.stopping.signal.aborted || this.server !== server) return;
      this.o.log.error({ code, pid: server.pid }, 'the embedded nats-server exited: starting it again on the same store and port');
      for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
        try {
          const next = await startNatsServer({ ...this.natsOptions(), port: server.port });
          this.server = next;
          this.o.log.info({ url: next.url, pid: next.pid, attempt }, 'restarted the embedded nats-server');
          this.announce();
          this.superviseNats(next);
          return;
        } catch (err) {
          this.o.log.error({ err, attempt }, 'could not restart the embedded nats-server; trying again');
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
        }
      }
    });
  }

  private natsOptions() {
    const extra = [this.creds ? natsAuthorization(this.creds, this.tenantUsers()) : '', this.tls ? natsTls(this.tls) : ''].join('\n');
    return { dataDir: join(this.o.dataDir, 'nats'), name: `hyper-${this.o.hostId}`, host: this.listenHost, extraConfig: extra };
  }

  /** Every active tenant, as the embedded server's users: added and removed ones take effect at the next reload. */
  private tenantUsers(): TenantUser[] {
    return [...(this.view?.tenants.values() ?? [])].filter((t) => t.state === 'active' && t.nkey).map((t) => ({ tenant: t.name, nkey: t.nkey! }));
  }

  /** Rewrites the embedded server's users from the folded tenants and reloads it (a removed tenant is cut off at once). */
  private reloadAuth(): void {
    if (!this.server || !this.creds) return;
    this.server.reload(this.natsOptions().extraConfig);
    this.o.log.info({ tenants: this.tenantUsers().map((t) => t.tenant) }, 'reloaded the embedded nats-server\'s users');
  }

  /** The Docker Engine API: a failure to listen is said and the daemon runs on without it. */
  private async serveDockerApi(hostIds: string[], driver: string): Promise<void> {
    if (this.o.dockerApi === false) return;
    const where = this.o.dockerApi ?? `unix://${join(this.o.dataDir, 'docker.sock')}`;
    try {
      const api = new DockerApi({ nc: this.nc, store: this.store, view: this.view, hostIds: () => hostIds, daemonId: this.daemonId, driver, log: this.o.log, dataDir: this.o.dataDir, insecureRegistries: this.o.insecureRegistries, subnet: this.networkMode === 'bridge' && this.network ? { cidr: this.network.subnet.cidr, gateway: this.network.subnet.gateway } : null });
      await api.listen(parseApiAddress(where, this.o.dockerApiInsecureBind));
      this.docker = api;
      this.dockerHost = where;
      this.o.log.info({ dockerHost: where }, `Docker Engine API on ${where} (DOCKER_HOST=${where})`);
    } catch (err) {
      this.o.log.warn({ err, where }, `could not serve the Docker Engine API on ${where}: ${(err as Error).message}`);
    }
  }

  /** `hyper audit verify` compares every daemon's folded view with its refold: the view is written where it can read it. */
  private answerAudits(): void {
    this.nc.subscribe(AUDIT_VIEW, {
      callback: (err, m) => {
        if (err) return;
        const snap = this.view.toSnapshot();
        const key = `live.${this.daemonId}`;
        void SnapshotStore.open(this.nc)
          .then((snaps) => snaps.saveAs(key, snap))
          .then(() => m.respond(JSON.stringify({ daemon: this.daemonId, hosts: this.hosts.map((h) => h.id), seq: snap.seq, key })))
          .catch((e) => this.o.log.warn({ err: e }, 'could not answer an audit with this daemon\'s view'));
      },
    });
  }

  /** hyperd.json: where the CLI finds this daemon's NATS and (for the embedded one) the credentials to use. */
  private announce(): void {
    writeFileSync(
      announceFile(this.o.dataDir),
      JSON.stringify({
        pid: process.pid, hostId: this.o.hostId, daemon: this.daemonId, nats: this.natsUrls, advertise: this.advertisedUrls, embedded: Boolean(this.server),
        ...(this.creds ? { credentials: clientCredentialsFile(this.o.dataDir) } : {}),
        ...(this.tls ? { tlsCa: this.tls.ca } : this.o.natsCa ? { tlsCa: this.o.natsCa } : {}),
        ...(this.networkSummary ? { network: { mode: this.networkMode, summary: this.networkSummary } } : {}),
        ...(this.dockerHost ? { dockerHost: this.dockerHost } : {}),
        ...(this.o.driver === 'qemu' ? { vmStarts: vmStartsSummary(this.o) } : {}),
      }),
    );
  }

  /**
   * The lease ran out. Fencing protects against another host starting these pods; with no other host up (a single
   * daemon whose NATS restarts) nobody can, and stopping them would only lose them. A host that joins meanwhile and
   * declares this one lost is answered by the fence on reading that loss.
   */
  private fenceIfOthers(): boolean {
    const others = [...this.view.hosts.values()].some((h) => h.state === 'up' && !this.hostById.has(h.id));
    if (others) void this.fence();
    return others;
  }

  /** Every VM of this daemon's hosts is stopped now (another host may start their pods soon). */
  private async fence(): Promise<void> {
    // the epochs this fence is about: a recovery after the hosts have rejoined (a later epoch) has nothing to record
    for (const h of this.hosts) this.fencedEpochs.set(h.id, this.view.hosts.get(h.id)?.epoch ?? 0);
    const stopped = await Promise.all(this.hosts.map((h) => h.fence()));
    this.o.log.error({ pods: stopped.reduce((a, b) => a + b, 0) }, 'fenced: stopped every pod of this host; they are recorded as lost and this host rejoins when NATS is back');
  }

  /**
   * Back after a fence, or told by the log that this daemon's hosts were declared lost: the loss is recorded (by this
   * host, if no survivor did), every run it held ends in the log, and the hosts join again with a new epoch.
   */
  private recover(): Promise<void> {
    this.recovering ??= (async () => {
      try {
        for (const host of this.hosts) {
          const h = this.view.hosts.get(host.id);
          const fencedAt = this.fencedEpochs.get(host.id);
          // up again as a later epoch than the one fenced (both the lease worker and the log said so): done already
          if (h?.state === 'up' && fencedAt !== undefined && h.epoch !== fencedAt) continue;
          if (h?.state === 'up') await this.loss.declare(h, 0, `host ${h.id} fenced itself: its lease could not be renewed`);
          const until = performance.now() + 10_000;
          while (this.view.hosts.get(host.id)?.state === 'up' && performance.now() < until) await new Promise((r) => setTimeout(r, 25));
          await this.loss.endRunsOn(host.id);
          await host.rejoin();
        }
        this.o.log.warn({ hosts: this.hosts.map((h) => h.id) }, 'rejoined the cluster with a new epoch after a loss');
      } catch (err) {
        this.o.log.error({ err }, 'could not rejoin after a loss; will try at the next renewal');
      } finally {
        this.recovering = null;
      }
    })();
    return this.recovering;
  }

  /** Every event after the loaded view is live: fold it, then let the actors react. */
  private async follow(): Promise<void> {
    for (;;) {
      try {
        return await this.followOnce();
      } catch (err) {
        if (this.followAbort.signal.aborted) return;
        if (!(err instanceof StreamRewoundError)) return void this.o.log.fatal({ err }, 'event stream follow failed');
        await this.refold(err.why);
      }
    }
  }

  /**
   * The event stream lost events this daemon had folded (nats-server 2.9 resetting a replica after a leader change): what
   * it holds now is the record, so the view is folded again from it, in place, and every actor looks again.
   */
  private async refold(why: string): Promise<void> {
    this.o.log.error({ why, foldedUpTo: this.view.seq }, `${why}. ${REWIND_ADVICE}. Folding the whole log again (what it no longer holds is gone from the view too)`);
    for (let attempt = 1; ; attempt++) {
      try {
        const fresh = (await loadView(this.store, { useSnapshot: false })).view;
        this.view.replaceWith(fresh);
        break;
      } catch (err) {
        if (this.followAbort.signal.aborted) return;
        if (attempt % 10 === 1) this.o.log.warn({ err, attempt }, 'could not fold the log again yet; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    // the stored snapshot folded what is lost too: replaced by this fold (if snapshots are kept at all)
    if (this.o.snapshotEvery !== 0) void this.snapshot({ replace: true });
    for (const h of this.hosts) h.reconcileAll();
    this.scheduler.considerAll();
    this.o.log.warn({ seq: this.view.seq, pods: this.view.pods.size }, 'folded the log again after NATS lost events');
  }

  private async followOnce(): Promise<void> {
    for await (const batch of this.store.readBatches({ fromSeq: this.view.seq + 1, signal: this.followAbort.signal })) {
      for (const r of batch) {
        if (r.seq <= this.view.seq) continue;
        this.dispatch(this.view.apply(r));
      }
      this.sinceSnapshot += batch.length;
      if (this.o.snapshotEvery !== 0 && this.sinceSnapshot >= (this.o.snapshotEvery ?? SNAPSHOT_EVERY) && performance.now() >= this.snapshotQuietUntil) void this.snapshot();
    }
  }

  private dispatch(change: Change): void {
    if (change.kind === 'invalid') {
      // a newer hyper's event: named, skipped, and nothing fails for it (the pod keeps its state until this daemon is upgraded)
      if (change.newer) return void this.o.log.warn({ seq: change.seq, subject: change.subject, type: change.newer.type, v: change.newer.v, reads: change.newer.reads, version: VERSION }, `skipped ${change.issues[0]?.message}`);
      this.o.log.warn({ seq: change.seq, subject: change.subject, issues: change.issues }, 'skipped an invalid message in the event stream');
      return;
    }
    if (change.kind === 'tenant') return this.reloadAuth();
    if (change.kind === 'host') {
      if (change.event.type === 'host.joined') this.liveness.joined(change.host.id);
      else this.liveness.hostsChanged();
    }
    if (change.kind === 'host' && change.event.type === 'host.lost' && change.host.state === 'lost' && this.hostById.has(change.host.id) && !this.recovering) {
      // survivors declared this daemon lost (it was silent too long, whatever it thought): stop everything, then rejoin
      this.o.log.error({ host: change.host.id, reason: change.event.data.reason }, `this host was declared lost by ${change.event.by}: stopping its pods and rejoining`);
      void this.fence().then(() => this.recover());
    }
    this.scheduler.onChange(change);
    if (change.kind !== 'pod') return;
    const placed = change.pod.context.host ? this.hostById.get(change.pod.context.host) : undefined;
    const running = this.runnerHost.get(change.pod.context.id);
    placed?.onChange(change);
    if (running && running !== placed) running.onChange(change);
  }

  async snapshot(o: { replace?: boolean } = {}): Promise<void> {
    if (this.snapshotting && !o.replace) return;
    this.snapshotting = true;
    this.sinceSnapshot = 0;
    try {
      const t0 = performance.now();
      const snaps = await SnapshotStore.open(this.nc);
      await snaps.save(this.view.toSnapshot(), o);
      this.snapshotQuietUntil = performance.now() + 9 * (performance.now() - t0);
    } catch (err) {
      this.o.log.warn({ err }, 'snapshot failed (replay still works, restarts are slower)');
    } finally {
      this.snapshotting = false;
    }
  }

  /** VMs that outlive this daemon are fenced by a process that outlives it too: started now, restarted if it dies. */
  private guardFencing(guard: (leaseFile: string) => void): void {
    const ensure = () => {
      try {
        guard(leaseFileOf(this.o.dataDir));
      } catch (err) {
        this.o.log.error({ err }, 'cannot start the fence guard: if this daemon is killed, its VMs may run on beside their replacements');
      }
    };
    ensure();
    this.guardTimer = setInterval(ensure, 2_000);
    this.guardTimer.unref();
  }

  /** The host's pod network: the mode asked for (auto: bridge where hyperd may make taps, else user-mode), set up now. */
  private async openNetwork(hostId: string): Promise<HostNetwork> {
    const want = this.o.network ?? DEFAULT_NETWORK;
    let mode: NetworkMode = want.mode === 'auto' ? 'bridge' : want.mode;
    let why = want.mode === 'auto' ? '' : ` (--network ${want.mode})`;
    if (want.mode === 'auto' || want.mode === 'bridge') {
      const probe = await probeNetworkMode();
      if (probe.mode !== 'bridge') {
        if (want.mode === 'bridge') throw new Error(`--network bridge: ${probe.why} — run hyperd as root, or use --network user`);
        this.o.log.warn({ why: probe.why }, `pod network: user-mode (QEMU's own NAT and port forwards), since ${probe.why}: pods reach out and publish ports, but cannot reach each other`);
        mode = 'user';
        why = ` (${probe.why})`;
      }
    }
    const network = new HostNetwork({ hostId, mode, bridge: want.bridge, cidr: want.cidr }, this.view, this.o.log);
    await network.setup();
    this.networkMode = mode;
    this.networkSummary =
      mode === 'bridge'
        ? `bridge ${want.bridge} ${network.subnet.gateway}/${network.subnet.prefix}, NAT, published ports as DNAT rules, ${network.dnsServer ? `pod DNS on ${network.dnsServer}:53` : 'no pod DNS (port 53 on the gateway was taken: /etc/hosts only)'}`
        : mode === 'user'
          ? `user-mode${why}: QEMU's own NAT and port forwards; pods cannot reach each other`
          : `none${why}: pods get only lo`;
    return network;
  }

  async stop(reason = 'SIGTERM'): Promise<void> {
    if (this.guardTimer) clearInterval(this.guardTimer);
    this.loss?.stop();
    // a slow shutdown is not a lost lease: the hosts leave (host.left), which no survivor declares lost
    if (this.liveness) this.liveness.events = null;
    await this.acceptor?.stop();
    await this.acceptNc?.drain().catch(() => {});
    this.execs?.stop();
    this.docker?.close();
    this.scheduler?.stop();
    for (const m of this.meters) m.stop();
    let left = false;
    if (this.store) {
      const ok = await Promise.all(this.hosts.map((h) => h.leave(reason, this.o.stopPodsOnExit).then(() => true, (err) => (this.o.log.warn({ err, host: h.id }, 'leave failed'), false))));
      left = ok.every(Boolean);
      await this.snapshot();
    }
    await this.driver?.close?.().catch((err) => this.o.log.warn({ err }, 'could not stop the VM pool'));
    await this.network?.teardown().catch((err) => this.o.log.warn({ err }, 'could not remove the pod network'));
    this.stopping.abort();
    this.followAbort.abort();
    await this.liveness?.stop(left);
    await this.following?.catch(() => {});
    await this.nc?.drain().catch(() => {});
    await this.server?.stop();
    // only the lock holder owns the announce file: a daemon refused by the lock must leave the running one's in place
    if (this.lock) rmSync(announceFile(this.o.dataDir), { force: true });
    this.lock?.release();
    this.o.log.info({ reason }, 'hyperd stopped');
  }
}
