// The Docker API's container lifecycle as hyper intents and reads of the log, as the CLI does them: create (pod.requested,
// not started), start, wait, attach (output as Docker's multiplexed frames), remove; --rm removes the pod when it ends.
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventStore } from '../events/store/event-store.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import type { PodFold } from '../model/pod-fold.js';
import { TERMINAL, type PodState } from '../model/pod-machine.js';
import { DEFAULT_TENANT, addressOf } from '../events/schemas/subjects.js';
import { readLogs } from '../events/store/logs.js';
import { publishIntent } from '../cli/intent.js';
import { reserveName, releaseName } from '../cli/names.js';
import { resolvePod } from '../cli/resolve.js';
import { watchPod } from '../cli/watch.js';
import { newPodId } from '../cli/pod-id.js';
import { specFromCreate } from './create.js';

export interface LifecycleDeps {
  nc: NatsConnection;
  store: EventStore;
  view: ClusterView;
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

  constructor(private readonly d: LifecycleDeps) {}

  /** The pod a reference names; one just created may not be folded into the view yet: it is waited for briefly. */
  async pod(ref: string): Promise<PodRecord> {
    for (let i = 0; ; i++) {
      try {
        return resolvePod(this.d.view, ref, DEFAULT_TENANT);
      } catch (err) {
        if (i >= 40) throw new ApiError(404, `No such container: ${ref}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async create(body: unknown, name: string | null): Promise<{ Id: string; Warnings: string[] }> {
    let made;
    try {
      made = specFromCreate(body as Parameters<typeof specFromCreate>[0], name ? name.replace(/^\//, '') : null);
    } catch (err) {
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
    const rec = await this.pod(ref);
    const until: PodState[] = condition === 'removed' ? ['deleted'] : [...TERMINAL];
    // a pod that has not started yet (docker run waits before it starts) is followed from where the view has it
    const end = TERMINAL.has(rec.state) && condition !== 'removed' ? rec : await this.until(rec, rec.seq + 1, until, 0);
    const main = Object.values(end.context.containers)[0];
    const code = main?.exitCode ?? (end.state === 'failed' ? 125 : 0);
    return { StatusCode: code, Error: end.state === 'failed' && main?.exitCode == null ? { Message: end.context.reason ?? 'failed' } : null };
  }

  /** DELETE: removes it (force: a running one too) and answers once it is gone. */
  async remove(ref: string, force: boolean): Promise<void> {
    const rec = await this.pod(ref);
    if (!force && !TERMINAL.has(rec.state) && rec.state !== 'created') throw new ApiError(409, `You cannot remove a running container ${rec.context.id}. Stop the container before attempting removal or force remove`);
    await publishIntent(this.d.store, 'pod.delete.requested', addressOf(rec.context), { force: true }, intentOpts);
    await this.until(rec, rec.seq + 1, ['deleted'], 60_000);
    if (rec.context.name) await releaseName(this.d.nc, DEFAULT_TENANT, rec.context.name, rec.context.id).catch(() => {});
  }

  /**
   * A hijacked attach: the container's output as Docker's multiplexed frames (raw with a tty) from its first byte, until
   * the pod has ended and its output gone quiet; then the connection closes.
   */
  async attach(ref: string, socket: Socket, tty: boolean): Promise<void> {
    const rec = await this.pod(ref);
    const at = addressOf(rec.context);
    const abort = new AbortController();
    let last = Date.now();
    const copying = (async () => {
      for await (const chunk of readLogs(this.d.nc, at, { follow: true, signal: abort.signal })) {
        last = Date.now();
        if (socket.destroyed) break;
        if (tty) socket.write(chunk.data);
        else {
          const head = Buffer.alloc(8);
          head[0] = chunk.stream;
          head.writeUInt32BE(chunk.data.length, 4);
          socket.write(Buffer.concat([head, chunk.data]));
        }
      }
    })().catch(() => {});
    socket.on('close', () => abort.abort());
    if (!TERMINAL.has(rec.state)) await this.until(rec, rec.seq + 1, [...TERMINAL], 0).catch(() => {});
    // output may trail the exit event by a little
    while (Date.now() - last < 300 && !socket.destroyed) await new Promise((r) => setTimeout(r, 60));
    abort.abort();
    await copying;
    socket.end();
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
