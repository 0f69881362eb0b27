// Container output on NATS: hosts store each stream in order on hyper.logs.<tenant>.<pod>.<container>.<out|err> (stream HYPER_LOGS),
// every message carrying its offset, so a re-attached host knows exactly how far a stream is stored; the CLI reads it back.
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { LOG_STREAM, logSubject, podLogs, type PodAddress } from '../schemas/subjects.js';
import { openConsumer } from './consumer.js';

/** `atMs`: when NATS stored the chunk (the time of its first byte's line, to a chunk's precision). */
export interface LogChunk { seq: number; container: string; stream: 1 | 2; data: Uint8Array; atMs: number }

/** Which process instance a chunk belongs to (`<vm>/<restarts>`), and the stream offset of its first byte. */
const INSTANCE = 'Hyper-Instance';
const OFFSET = 'Hyper-Offset';
/** Below NATS' default 1 MB max_payload (an external server may keep the default), with room for headers. */
const MAX_BATCH = 512 * 1024;

/** How far one process instance's stream is stored: the end offset of its last message (0 if none, or another instance's). */
export async function storedLogOffset(nc: NatsConnection, at: PodAddress, container: string, stream: 1 | 2, instance: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const m = await jsm.direct.getMessage(LOG_STREAM, { last_by_subj: logSubject(at, container, stream) });
  if (!m || m.header?.get(INSTANCE) !== instance) return 0;
  return Number(m.header.get(OFFSET)) + m.data.length;
}

/**
 * One stream of one process instance, written strictly in order: one publish in flight, everything that arrives meanwhile
 * coalesced into the next. So a stored message implies every earlier byte is stored, and the last message's offset is the
 * stream's durable end. A failed publish is retried with the same msgID (a retry after a lost ack is deduplicated) until it
 * is stored or the writer is closed; `onStored` reports each new durable end (the host acknowledges it to the agent).
 */
export class LogWriter {
  private readonly js: JetStreamClient;
  private readonly subject: string;
  private readonly podId: string;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private inflight = 0;
  private loop: Promise<void> | null = null;
  private closed = false;
  private readonly waiters: { end: number; resolve: () => void }[] = [];

  constructor(
    nc: NatsConnection,
    at: PodAddress,
    private readonly container: string,
    private readonly stream: 1 | 2,
    private readonly instance: string,
    /** The durable end at start (storedLogOffset). */
    public stored: number,
    private readonly onStored: (end: number) => void,
    private readonly onRetry: (err: unknown) => void = () => {},
  ) {
    // short: a publish in flight when the server went away is never answered; its retry (same msgID) is harmless
    this.js = jetstream(nc, { timeout: 2_000 });
    this.subject = logSubject(at, container, stream);
    this.podId = at.pod;
  }

  /** End offset of everything accepted so far (stored or queued). */
  get end(): number {
    return this.stored + this.inflight + this.pendingBytes;
  }

  /** Appends bytes that start exactly at `end` (the caller trims duplicates first). */
  push(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.loop ??= this.drain().finally(() => (this.loop = null));
  }

  /** Resolves once the stream is stored up to `end` (default: everything accepted so far). */
  flushTo(end = this.end): Promise<void> {
    if (this.stored >= end || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ end, resolve }));
  }

  /** Moves the stream's position forward over bytes that will never come (nothing may be queued). */
  skipTo(offset: number): void {
    if (this.pendingBytes || this.inflight || offset < this.stored) throw new Error(`log writer: cannot skip to ${offset} from ${this.end}`);
    this.stored = offset;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private async drain(): Promise<void> {
    while (this.pending.length && !this.closed) {
      const parts: Uint8Array[] = [];
      let n = 0;
      while (this.pending.length && n + this.pending[0].length <= MAX_BATCH) {
        const p = this.pending.shift()!;
        parts.push(p);
        n += p.length;
      }
      if (!parts.length) {
        // one chunk bigger than a batch: split it
        const p = this.pending[0];
        parts.push(p.subarray(0, MAX_BATCH));
        this.pending[0] = p.subarray(MAX_BATCH);
        n = MAX_BATCH;
      }
      this.pendingBytes -= n;
      this.inflight = n;
      const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      const offset = this.stored;
      const h = natsHeaders();
      h.set(INSTANCE, this.instance);
      h.set(OFFSET, String(offset));
      const msgID = `${this.podId}.${this.instance}.${this.container}.${this.stream}.${offset}`;
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.js.publish(this.subject, data, { msgID, headers: h });
          break;
        } catch (err) {
          this.onRetry(err);
          await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** Math.min(attempt, 6))));
        }
      }
      if (this.closed) return;
      this.inflight = 0;
      this.stored = offset + n;
      this.onStored(this.stored);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        if (this.waiters[i].end <= this.stored) this.waiters.splice(i, 1)[0].resolve();
      }
    }
  }
}

/** Container and stream of a log subject; subjects of stores older than 0.2 (`<pod>.<container>`) say the stream in a header. */
function parseSubject(subject: string, prefixLength: number, header: string | undefined): { container: string; stream: 1 | 2 } {
  const rest = subject.slice(prefixLength).split('.');
  if (rest.length >= 2) return { container: rest[0], stream: rest[1] === 'err' ? 2 : 1 };
  return { container: rest[0], stream: header === '2' ? 2 : 1 };
}

export interface ReadLogsOptions {
  follow?: boolean;
  signal?: AbortSignal;
  scoped?: boolean;
  /** Only this container's streams (a narrower subject filter, not a filter in the client). */
  container?: string;
  /** Only chunks stored at or after this time (ms since the epoch): the consumer starts there. */
  sinceMs?: number;
  /** From this stream sequence on (a follow that picks up where an earlier read stopped). */
  fromSeq?: number;
}

/** The stream sequence of a container's last stored output (0: none yet): a reader that got this far has all of it. */
export async function lastLogSeq(nc: NatsConnection, at: PodAddress, container: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const last = await Promise.all(([1, 2] as const).map((s) => jsm.direct.getMessage(LOG_STREAM, { last_by_subj: logSubject(at, container, s) }).then((m) => m?.seq ?? 0, () => 0)));
  return Math.max(...last);
}

/**
 * Reads a pod's output from the start (or from `sinceMs`); with `follow` it keeps going until the signal aborts, otherwise it
 * stops at the end as it stood when the read began. The consumer hands over a bounded amount ahead of the reader (a few
 * MB), so a slow reader pulls slowly instead of the client buffering the whole log.
 */
export async function* readLogs(nc: NatsConnection, at: PodAddress, o: ReadLogsOptions = {}): AsyncGenerator<LogChunk> {
  const prefix = podLogs(at).slice(0, -1);
  const filter = o.container ? `${prefix}${o.container}.>` : podLogs(at);
  const { consumer, pending, cleanup } = await openConsumer(nc, LOG_STREAM, { filter, scoped: Boolean(o.scoped), sinceMs: o.sinceMs, fromSeq: o.fromSeq });
  if (pending === 0 && !o.follow) return cleanup();
  const messages = await consumer.consume({ max_bytes: 4 * MAX_BATCH });
  const stop = () => void messages.close().catch(() => {});
  o.signal?.addEventListener('abort', stop, { once: true });
  try {
    let delivered = 0;
    for await (const m of messages) {
      yield { seq: m.seq, ...parseSubject(m.subject, prefix.length, m.headers?.get('Hyper-Stream')), data: m.data, atMs: Math.floor(m.info.timestampNanos / 1e6) };
      // the end as it stood when the read began, reached by the consumer's own count: not "nothing left now", which a
      // stream that is still being written may never reach
      if (!o.follow && (++delivered >= pending || m.info.pending === 0)) break;
    }
  } finally {
    o.signal?.removeEventListener('abort', stop);
    await messages.close().catch(() => {});
    cleanup();
  }
}
