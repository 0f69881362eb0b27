// The Docker API's container lifecycle as hyper intents and reads of the log, as the CLI does them: create (pod.requested,
// not started), start, wait, attach (output as Docker's multiplexed frames, input to stdin), resize, remove; --rm removes
// the pod when it ends.
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventStore } from '../events/store/event-store.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import type { PodFold } from '../model/pod-fold.js';
import { TERMINAL, type PodState } from '../model/pod-machine.js';
import { DEFAULT_TENANT, addressOf } from '../events/schemas/subjects.js';
import { lastLogSeq, readLogs } from '../events/store/logs.js';
import { openAttach, type AttachHandle } from '../cli/attach-client.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../cli/detach-keys.js';
import type { Control } from '../cli/session-io.js';
import { publishIntent } from '../cli/intent.js';
import { reserveName, releaseName, renamePod } from '../cli/names.js';
import { podName } from '../events/schemas/pod-spec.js';
import { resolvePod } from '../cli/resolve.js';
import { watchPod } from '../cli/watch.js';
import { newPodId } from '../cli/pod-id.js';
import { specFromCreate } from './create.js';
import { networkOf } from './networks.js';
import { frame } from './frames.js';
import { connectionInput, discard, upgraded, windowSize } from './streams.js';
import { dockerState, POD_LABEL } from './containers.js';
import { signalNumber } from '../cli/signals.js';

export interface LifecycleDeps {
  nc: NatsConnection;
  store: EventStore;
  view: ClusterView;
  /** The networks a container may join (bridge, none, and those made with docker network create). */
  networks?: () => ReadonlySet<string>;
}

const BY = `docker-api@${hostname()}`;
const intentOpts = { by: BY, quiet: true };

/** A Docker API error with its HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class Lifecycle {
  private readonly autoRemove = new Set<string>();
  /** Containers whose stdin closes when the attached client's does (docker run -i's StdinOnce). */
  private readonly stdinOnce = new Set<string>();
  /** The window size docker asked for, per container (POD/CONTAINER), and the attach sessions it goes to. */
  private readonly sizes = new Map<string, { rows: number; cols: number }>();
  private readonly attached = new Map<string, Control>();

  constructor(private readonly d: LifecycleDeps) {}

  /**
   * The pod a reference names, as a whole (start, stop, rm, rename act on pods); one just created may not be folded into
   * the view yet: it is waited for briefly. A member of a pod of several is refused, naming the pod.
   */
  async pod(ref: string): Promise<PodRecord> {
    const t = await this.target(ref);
    if (t.member) {
      const name = t.rec.context.name ?? t.rec.context.id;
      throw new ApiError(409, `${ref} is container ${t.container} of pod ${name}, whose containers share one VM: start, stop, restart, rm and rename act on the whole pod — use hyper start|stop|rm ${name}`);
    }
    return t.rec;
  }

  /**
   * The container a reference names: a pod of one (by its name or id), or a member of a pod of several (POD_CONTAINER,
   * or its id POD-CONTAINER, as docker ps lists them); logs, exec, top, kill, attach, wait and inspect take either.
   */
  async target(ref: string): Promise<{ rec: PodRecord; container: string; member: boolean }> {
    for (let i = 0; ; i++) {
      const found = this.find(ref);
      if (found) return found;
      if (i >= 40) throw new ApiError(404, `No such container: ${ref}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private find(ref: string): { rec: PodRecord; container: string; member: boolean } | null {
    try {
      const rec = resolvePod(this.d.view, ref, DEFAULT_TENANT);
      const containers = rec.context.spec?.containers ?? [];
      if (containers.length <= 1) return { rec, container: containers[0]?.name ?? 'main', member: false };
    } catch {}
    for (const sep of ['_', '-']) {
      for (let at = ref.lastIndexOf(sep); at > 0; at = ref.lastIndexOf(sep, at - 1)) {
        let rec: PodRecord;
        try {
          rec = resolvePod(this.d.view, ref.slice(0, at), DEFAULT_TENANT);
        } catch {
          continue;
        }
        const c = ref.slice(at + 1);
        if ((rec.context.spec?.containers.length ?? 0) > 1 && rec.context.spec!.containers.some((x) => x.name === c)) return { rec, container: c, member: true };
      }
    }
    return null;
  }

  async create(body: unknown, name: string | null): Promise<{ Id: string; Warnings: string[] }> {
    let made;
    try {
      made = specFromCreate(body as Parameters<typeof specFromCreate>[0], name ? name.replace(/^\//, '') : null, this.d.networks?.());
    } catch (err) {
      // not docker's 404 for a missing network: its CLI takes any 404 from create for a missing image, and pulls
      throw new ApiError(400, (err as Error).message);
    }
    const id = newPodId();
    const at = { pod: id, tenant: DEFAULT_TENANT };
    if (made.spec.name) {
      try {
        await reserveName(this.d.nc, this.d.view, DEFAULT_TENANT, made.spec.name, id);
      } catch (err) {
        throw new ApiError(409, `Conflict. The container name "/${made.spec.name}" is already in use: ${(err as Error).message}`);
      }
    }
    try {
      await publishIntent(this.d.store, 'pod.requested', at, { spec: made.spec, start: false }, intentOpts);
    } catch (err) {
      if (made.spec.name) await releaseName(this.d.nc, DEFAULT_TENANT, made.spec.name, id);
      throw err;
    }
    if (made.autoRemove) this.autoRemove.add(id);
    if (made.stdinOnce) this.stdinOnce.add(id);
    return { Id: id, Warnings: [] };
  }

  /** Starts it and answers once it runs (or has already ended); --rm pods are removed when they end. */
  async start(ref: string): Promise<'started' | 'already'> {
    const rec = await this.pod(ref);
    if (rec.state === 'running' || rec.state === 'starting' || rec.state === 'booting' || rec.state === 'booted' || rec.state === 'scheduled' || rec.state === 'pending') return 'already';
    // followed from the pod as the view has it, the intent's own fact included (it is the transition)
    await publishIntent(this.d.store, 'pod.start.requested', addressOf(rec.context), {}, intentOpts);
    const after = await this.until(rec, rec.seq + 1, ['running', 'stopped', 'succeeded', 'failed', 'deleted'], 120_000);
    if (this.autoRemove.has(rec.context.id)) void this.removeWhenEnded(rec.context.id);
    if (after.state === 'failed' && !Object.values(after.context.containers).some((c) => c.startedAt)) throw new ApiError(500, `failed to start container ${ref}: ${after.context.reason ?? 'unknown'}`);
    return 'started';
  }

  /** Waits for the condition (not-running / next-exit: the pod ended; removed: it is gone) and gives the exit code. */
  async wait(ref: string, condition: string): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const { rec, container } = await this.target(ref);
    const until: PodState[] = condition === 'removed' ? ['deleted'] : [...TERMINAL];
    // a pod that has not started yet (docker run waits before it starts) is followed from where the view has it
    const end = TERMINAL.has(rec.state) && condition !== 'removed' ? rec : await this.until(rec, rec.seq + 1, until, 0);
    const main = end.context.containers[container] ?? Object.values(end.context.containers)[0];
    const code = main?.exitCode ?? (end.state === 'failed' ? 125 : 0);
    return { StatusCode: code, Error: end.state === 'failed' && main?.exitCode == null ? { Message: end.context.reason ?? 'failed' } : null };
  }

  /** Stops it (SIGTERM, forced off after t seconds) and answers once it has ended; 'already' if it had. */
  async stop(ref: string, graceS: number | null): Promise<'stopped' | 'already'> {
    const rec = await this.pod(ref);
    if (TERMINAL.has(rec.state) || rec.state === 'created') return 'already';
    await publishIntent(this.d.store, 'pod.stop.requested', addressOf(rec.context), { graceMs: Math.max(0, Math.min(3_600, graceS ?? 10)) * 1000 }, intentOpts);
    await this.until(rec, rec.seq + 1, [...TERMINAL], ((graceS ?? 10) + 60) * 1000);
    return 'stopped';
  }

  /** docker rename: the new name reserved (409 if another container has it), then accepted as the pod's. */
  async rename(ref: string, name: string | null): Promise<void> {
    const want = (name ?? '').replace(/^\//, '');
    const ok = podName.safeParse(want);
    if (!ok.success) throw new ApiError(400, `Invalid container name (${want}): ${ok.error.issues[0].message}`);
    const rec = await this.pod(ref);
    try {
      await renamePod(this.d.store, this.d.nc, this.d.view, DEFAULT_TENANT, rec, want, intentOpts);
    } catch (err) {
      if ((err as { code?: string }).code === 'name-taken') throw new ApiError(409, `Conflict. The container name "/${want}" is already in use: ${(err as Error).message}`);
      throw err;
    }
    // answered once this daemon's view has it, so the client's next docker ps shows the new name
    for (let i = 0; i < 100 && this.d.view.pods.get(rec.context.id)?.context.name !== want; i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** A signal to its main process (docker kill): accepted as an intent, delivered by its host. */
  async kill(ref: string, signal: string | null): Promise<void> {
    const n = signalNumber(signal ?? 'KILL');
    if (n === null) throw new ApiError(400, `invalid signal: ${signal} (give a name such as SIGTERM, TERM or a number)`);
    const { rec, container, member } = await this.target(ref);
    if (rec.state !== 'running') throw new ApiError(409, `Container ${rec.context.id} is not running`);
    await publishIntent(this.d.store, 'pod.kill.requested', addressOf(rec.context), { signal: n, ...(member ? { container } : {}) }, intentOpts);
  }

  /** Its output as stored: Docker's frames (raw with a tty), the last `tail` lines, and with follow until it ends. */
  async logs(ref: string, o: { stdout: boolean; stderr: boolean; follow: boolean; tail: number | null; timestamps: boolean; sinceMs?: number | null; untilMs?: number | null }, out: { write(b: Buffer): void }): Promise<void> {
    const { rec, container } = await this.target(ref);
    const tty = Boolean(rec.context.spec?.containers.find((c) => c.name === container)?.tty);
    const at = addressOf(rec.context);
    const emit = (stream: 1 | 2, data: Buffer) => out.write(tty ? data : frame(stream, data));
    const want = (s: 1 | 2, atMs: number) => (s === 1 ? o.stdout : o.stderr) && (o.untilMs == null || atMs <= o.untilMs);
    const since = o.sinceMs ? { sinceMs: o.sinceMs } : {};
    let lastSeq = 0;
    const stamp = (atMs: number, data: Buffer) => (o.timestamps ? Buffer.from(data.toString('utf8').split(/(?<=\n)/).map((l) => `${new Date(atMs).toISOString()} ${l}`).join('')) : data);
    if (o.tail !== null) {
      // the last N lines of what is stored, per stream as docker counts them
      const lines: { stream: 1 | 2; text: Buffer }[] = [];
      for await (const c of readLogs(this.d.nc, at, { container, ...since })) if (((lastSeq = c.seq), want(c.stream, c.atMs))) for (const l of Buffer.from(c.data).toString('utf8').split(/(?<=\n)/)) if (l) lines.push({ stream: c.stream, text: stamp(c.atMs, Buffer.from(l)) });
      for (const l of o.tail === 0 ? [] : lines.slice(-o.tail)) emit(l.stream, l.text);
      if (!o.follow) return;
    }
    const abort = new AbortController();
    const copying = (async () => {
      // after the tail, from the chunk after the last one read: nothing twice, nothing left out
      for await (const c of readLogs(this.d.nc, at, { container, follow: o.follow, signal: abort.signal, ...(o.tail !== null ? (lastSeq ? { fromSeq: lastSeq + 1 } : { sinceMs: Date.now() }) : since) })) if (want(c.stream, c.atMs)) emit(c.stream, stamp(c.atMs, Buffer.from(c.data)));
    })().catch(() => {});
    if (o.follow) {
      if (!TERMINAL.has(rec.state)) await this.until(rec, rec.seq + 1, [...TERMINAL], 0).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      abort.abort();
    }
    await copying;
  }

  /** `GET /containers/ID/json`: what docker inspect shows, from the folded pod. */
  async inspect(ref: string): Promise<unknown> {
    const { rec, container, member } = await this.target(ref);
    const ctx = rec.context;
    const c = ctx.spec?.containers.find((x) => x.name === container);
    const st = c ? ctx.containers[c.name] : undefined;
    const state = dockerState(rec, st);
    const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
    const net = ctx.network;
    const joined = networkOf(ctx.spec);
    return {
      Id: member ? `${ctx.id}-${container}` : ctx.id,
      Created: iso(ctx.createdAt),
      Path: c?.command?.[0] ?? c?.args?.[0] ?? '',
      Args: [...(c?.command ?? []), ...(c?.args ?? [])].slice(1),
      State: { Status: state, Running: state === 'running', Paused: false, Restarting: state === 'restarting', OOMKilled: st?.reason === 'OOM killed', Dead: false, Pid: st?.pid ?? 0, ExitCode: st?.exitCode ?? 0, Error: rec.state === 'failed' ? (ctx.reason ?? '') : '', StartedAt: iso(st?.startedAt), FinishedAt: iso(st?.finishedAt) },
      Image: c?.image ?? '',
      Name: `/${member ? `${ctx.name ?? ctx.id}_${container}` : (ctx.name ?? ctx.id)}`,
      RestartCount: st?.restarts ?? 0,
      Driver: 'hyper',
      Platform: 'linux',
      HostConfig: { NetworkMode: joined, LogConfig: { Type: 'hyper', Config: {} }, RestartPolicy: { Name: ctx.spec?.restartPolicy === 'never' ? 'no' : ctx.spec?.restartPolicy ?? 'no', MaximumRetryCount: ctx.spec?.maxRestarts ?? 0 }, Memory: (ctx.spec?.resources.memoryMb ?? 0) * 1024 * 1024, NanoCpus: (ctx.spec?.resources.cpus ?? 0) * 1e9, AutoRemove: this.autoRemove.has(ctx.id) },
      Config: { Hostname: ctx.name ?? ctx.id, Image: c?.image ?? '', Cmd: c?.args ?? null, Entrypoint: c?.command ?? null, Env: Object.entries(c?.env ?? {}).map(([k, v]) => `${k}=${v}`), Labels: { ...(ctx.spec?.labels ?? {}), ...(member ? { [POD_LABEL]: ctx.name ?? ctx.id } : {}) }, Tty: Boolean(c?.tty), OpenStdin: Boolean(c?.stdin), WorkingDir: c?.workdir ?? '', User: c?.user ?? '' },
      NetworkSettings: {
        IPAddress: net?.mode === 'bridge' ? net.ip : '',
        Gateway: net?.mode === 'bridge' ? net.gateway : '',
        MacAddress: net?.mac ?? '',
        Ports: Object.fromEntries((net?.ports ?? []).map((p) => [`${p.containerPort}/${p.protocol}`, [{ HostIp: p.hostIp, HostPort: String(p.hostPort) }]])),
        Networks: { [joined]: { Aliases: [...(ctx.spec?.aliases ?? []), ctx.id.slice(0, 12)], NetworkID: '', EndpointID: ctx.id, IPAddress: net?.mode === 'bridge' ? net.ip : '', IPPrefixLen: net?.mode === 'bridge' ? net.prefix : 0, Gateway: net?.mode === 'bridge' ? net.gateway : '', MacAddress: net?.mac ?? '' } },
      },
      Mounts: (c?.volumes ?? []).map((v) => ({ Type: v.source.startsWith('/') ? 'bind' : 'volume', Source: v.source, Destination: v.target, RW: !v.readonly })),
      // what docker has no word for: the pod, its host and its VM
      Hyper: { pod: ctx.id, container, state: rec.state, host: ctx.host, vm: ctx.vm, run: ctx.run },
    };
  }

  /** DELETE: removes it (force: a running one too) and answers once it is gone. */
  async remove(ref: string, force: boolean): Promise<void> {
    const rec = await this.pod(ref);
    if (!force && !TERMINAL.has(rec.state) && rec.state !== 'created') throw new ApiError(409, `You cannot remove a running container ${rec.context.id}. Stop the container before attempting removal or force remove`);
    await publishIntent(this.d.store, 'pod.delete.requested', addressOf(rec.context), { force: true }, intentOpts);
    await this.until(rec, rec.seq + 1, ['deleted'], 60_000);
    this.forget(rec);
    if (rec.context.name) await releaseName(this.d.nc, DEFAULT_TENANT, rec.context.name, rec.context.id).catch(() => {});
  }

  /**
   * A hijacked attach: the container's output as Docker's multiplexed frames (raw with a tty) — from its first byte with
   * `logs`, else from now on — until the pod has ended and its output gone quiet; with `stdin` (a container created with
   * -i) the connection's input goes to its stdin once it runs (`head` first: what came with the request), its half-close
   * being the stdin's EOF if the container was created with StdinOnce (docker run -i), and the detach keys (Ctrl-P Ctrl-Q
   * unless `detachKeys`) ending the attach with the container left running. Then the connection closes.
   */
  async attach(ref: string, socket: Socket, o: { logs: boolean; stdin: boolean; detachKeys: string | null; head: Buffer }): Promise<void> {
    const { rec, container } = await this.target(ref);
    const main = rec.context.spec?.containers.find((c) => c.name === container);
    const tty = Boolean(main?.tty);
    const at = addressOf(rec.context);
    let detachKeys: number[] | null = null;
    if (o.stdin && main?.stdin) {
      try {
        detachKeys = parseDetachKeys(o.detachKeys || DEFAULT_DETACH_KEYS);
      } catch (err) {
        throw new ApiError(400, (err as Error).message);
      }
    }
    socket.write(upgraded(tty));
    const abort = new AbortController();
    let last = Date.now();
    const fromSeq = o.logs || !main ? undefined : (await lastLogSeq(this.d.nc, at, main.name)) + 1;
    const copying = (async () => {
      for await (const chunk of readLogs(this.d.nc, at, { container, follow: true, signal: abort.signal, fromSeq })) {
        last = Date.now();
        if (socket.destroyed) break;
        socket.write(tty ? chunk.data : frame(chunk.stream, chunk.data));
      }
    })().catch(() => {});
    const gone = new Promise<void>((resolve) => socket.on('close', () => {
      abort.abort();
      resolve();
    }));
    const ended = TERMINAL.has(rec.state) ? Promise.resolve() : this.until(rec, rec.seq + 1, [...TERMINAL], 0).then(() => {}, () => {});
    let detached = false;
    const handle = detachKeys ? await Promise.race([this.attachStdin(rec, container, socket, o.head, detachKeys, abort.signal), gone.then(() => null)]) : null;
    try {
      // docker's rule: the client's stdin ending ends an attach that does not own the container's stdin (no StdinOnce)
      const inputDone = handle?.inputEnded ?? ended;
      await Promise.race([ended, gone, inputDone.then(() => void (last = Date.now())), handle?.detached.then(() => void (detached = true)) ?? ended]);
      // output may trail the exit event by a little
      while (!detached && Date.now() - last < 300 && !socket.destroyed) await new Promise((r) => setTimeout(r, 60));
    } finally {
      handle?.close();
      this.attached.delete(`${rec.context.id}/${container}`);
      abort.abort();
      await copying;
      socket.unpipe();
      socket.end();
    }
  }

  /** The connection's input to the container's stdin, once it runs (docker run attaches before it starts). */
  private async attachStdin(rec: PodRecord, container: string, socket: Socket, head: Buffer, detachKeys: number[], gone: AbortSignal): Promise<(AttachHandle & { inputEnded: Promise<void> }) | null> {
    const running = rec.state === 'running' ? rec : await this.until(rec, rec.seq + 1, ['running', ...TERMINAL], 0).catch(() => null);
    if (gone.aborted || !running || running.state !== 'running' || !running.context.host) return null;
    const input = connectionInput(socket, head);
    const id = rec.context.id;
    const key = `${id}/${container}`;
    const once = this.stdinOnce.has(id);
    const inputEnded = new Promise<void>((resolve) => input.on('end', () => (once ? undefined : resolve())));
    const asked = this.sizes.get(key);
    const handle = await openAttach(this.d.nc, {
      host: running.context.host, at: addressOf(running.context), tenant: running.context.tenant ?? DEFAULT_TENANT, container,
      stdin: true, stdinOnce: once, detachKeys, sigProxy: false, by: BY,
      input, stdout: discard(), stderr: discard(), remote: asked ?? {},
    }).catch(() => null);
    if (!handle) return null;
    if (gone.aborted) {
      handle.close();
      return null;
    }
    this.attached.set(key, handle.control);
    // a resize that came while the session was being opened
    const now = this.sizes.get(key);
    if (now && now !== asked) handle.control('resize', now);
    return { ...handle, inputEnded };
  }

  /** docker's resize of a container's tty (h rows, w columns): to its attach session, or kept for the one to come. */
  async resize(ref: string, h: number, w: number): Promise<void> {
    const size = windowSize(h, w);
    if (!size) throw new ApiError(400, 'h and w: give the window\'s height and width, both above 0');
    const { rec, container } = await this.target(ref);
    const key = `${rec.context.id}/${container}`;
    this.sizes.set(key, size);
    this.attached.get(key)?.('resize', size);
  }

  /** What this daemon kept about a container it no longer has to answer for. */
  private forget(rec: PodRecord): void {
    this.stdinOnce.delete(rec.context.id);
    for (const c of rec.context.spec?.containers ?? []) this.sizes.delete(`${rec.context.id}/${c.name}`);
  }

  private async removeWhenEnded(id: string): Promise<void> {
    try {
      const rec = await this.pod(id);
      if (!TERMINAL.has(rec.state)) await this.until(rec, rec.seq + 1, [...TERMINAL], 0);
      await this.remove(id, true);
    } catch {
      // removed meanwhile, or NATS gone: nothing left to remove
    } finally {
      this.autoRemove.delete(id);
    }
  }

  /** Follows the pod's log from a sequence until it is in one of the states (timeoutMs 0: as long as it takes). */
  private async until(rec: PodRecord, fromSeq: number, states: PodState[], timeoutMs: number): Promise<PodFold> {
    const want = new Set(states);
    const start: PodFold = { state: rec.state, context: rec.context };
    if (want.has(start.state)) return start;
    const watching = watchPod({ store: this.d.store, pod: start, fromSeq, until: want });
    if (!timeoutMs) return watching;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([watching, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ApiError(500, `container ${rec.context.id} did not reach ${states.join('/')} within ${timeoutMs / 1000} s`)), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  }
}
