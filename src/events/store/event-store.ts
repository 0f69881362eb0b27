// The JetStream event store: validated appends with optimistic concurrency and msgID dedup, one pod's history, replay and live follow.
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { openConsumer } from './consumer.js';
import { ConflictError, EventStoreError, StreamRewoundError } from '../../errors.js';
import { rewoundBecause, type Delivered } from './rewind.js';
import { isTransient, JS } from '../../nats/errors.js';
import { parseEvent, safeParseEvent, type HyperEvent } from '../schemas/mod.js';
import { ensureStore, type StoreOptions } from './setup.js';
import { podSubject, STREAM, subjectOf, type PodAddress } from '../schemas/subjects.js';
import type { Record_ } from '../../model/record.js';

export type { StoredEvent, InvalidRecord, Record_ } from '../../model/record.js';

export interface AppendResult {
  seq: number;
  duplicate: boolean;
}

const decoder = new TextDecoder();
/** Payloads this process appended, by their exact text: read back, they need no second JSON parse and validation. */
const MINE_MAX = 50_000;

export interface OpenOptions extends StoreOptions {
  /**
   * A tenant's session: nats-server lets it read only its own tenant's subjects, and not the stream's info (which would
   * list every tenant's subjects), so it neither sets the streams up nor uses ordered consumers (they ask for that info).
   */
  scoped?: boolean;
}

export class EventStore {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    readonly scoped: boolean,
    private readonly mine = new Map<string, HyperEvent>(),
  ) {}

  /**
   * The same store over another connection (its appends' acks do not queue behind what this one reads), sharing what
   * this process appended, so events either appends are folded without a second parse.
   */
  over(nc: NatsConnection): EventStore {
    return new EventStore(nc, jetstream(nc, { timeout: 10_000 }), this.scoped, this.mine);
  }

  static async open(nc: NatsConnection, opts: OpenOptions = {}): Promise<EventStore> {
    if (!opts.scoped) {
      // a NATS cluster that is still electing its leaders answers with timeouts: keep asking for a while
      for (let attempt = 1; ; attempt++) {
        try {
          await ensureStore(nc, opts);
          break;
        } catch (err) {
          if (attempt >= 12 || !isTransient((err as { cause?: unknown }).cause ?? err)) throw err;
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
        }
      }
    }
    return new EventStore(nc, jetstream(nc, { timeout: 10_000 }), Boolean(opts.scoped));
  }

  /**
   * Appends one event after validating it (an invalid event throws ValidationError and publishes nothing).
   * `expectLastSeq` is the sequence of the last event the writer folded for this subject (0: none); a race lost throws ConflictError.
   * Transient failures (timeouts, a stream leader election) are retried with the same msgID, so they never write twice.
   */
  async append(event: HyperEvent, opts: { expectLastSeq?: number; retries?: number; /** it came out of parseEvent already */ validated?: boolean } = {}): Promise<AppendResult> {
    const valid = opts.validated ? event : parseEvent(event);
    const subject = subjectOf(valid);
    // a type written at an older version than it is read (versions.ts) goes out as written, validated through its upcast
    const payload = JSON.stringify(event.v < valid.v ? event : valid);
    const expect = opts.expectLastSeq === undefined ? undefined : { lastSubjectSequence: opts.expectLastSeq };
    // known before it is sent: on a busy daemon its delivery to our own consumer often comes before the publish's ack
    if (this.mine.size >= MINE_MAX) this.mine.clear();
    this.mine.set(payload, valid);
    let attempt = 0;
    for (;;) {
      try {
        const ack = await this.js.publish(subject, payload, { msgID: valid.id, expect });
        if (ack.duplicate) this.mine.delete(payload); // stored (and delivered) before: no second delivery comes
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JS.wrongLastSequence) {
          this.mine.delete(payload);
          throw new ConflictError(subject, opts.expectLastSeq ?? 0, { cause: err });
        }
        if (attempt++ >= (opts.retries ?? 8) || !isTransient(err)) {
          this.mine.delete(payload);
          throw new EventStoreError('append', `could not append ${valid.type} (${valid.id}) to ${subject}: ${(err as Error).message}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)));
      }
    }
  }

  private decodeOwn(m: JsMsg): Record_ {
    return decodeWith(this.mine, m);
  }

  /** The last sequence of the whole stream (0 when empty). */
  async lastSeq(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(STREAM);
    return info.state.last_seq;
  }

  /** The last sequence on one pod's subject, or 0 when the pod has no events; a failure to ask is an error, not "no events". */
  async lastPodSeq(a: PodAddress): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    try {
      const m = await jsm.direct.getMessage(STREAM, { last_by_subj: podSubject(a) });
      return m?.seq ?? 0;
    } catch (err) {
      throw new EventStoreError('read', `could not read the last event of pod ${a.pod} from ${STREAM}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Every event of one pod, in order. Invalid records are returned too, marked. */
  async history(a: PodAddress): Promise<Record_[]> {
    const out: Record_[] = [];
    for await (const batch of this.replayBatches(1, podSubject(a))) out.push(...batch);
    return out;
  }

  /** Replays the stream (or the subjects `filter` matches) from `fromSeq` up to its end at call time, then stops. */
  async *replay(fromSeq = 1, filter?: string): AsyncGenerator<Record_> {
    for await (const batch of this.replayBatches(fromSeq, filter)) yield* batch;
  }

  /** Like replay(), in batches: a tight loop over arrays folds far faster than one await per event. */
  replayBatches(fromSeq = 1, filter?: string, o: { keepRaw?: boolean; untilSeq?: number } = {}): AsyncGenerator<Record_[]> {
    return this.readBatches({ fromSeq, filter, untilCaughtUp: true, ...o });
  }

  /** The first sequence the stream still holds (older ones aged out or were deleted) and its last, or nulls when empty. */
  async bounds(): Promise<{ first: number; last: number } | null> {
    const info = await (await jetstreamManager(this.nc)).streams.info(STREAM);
    return info.state.messages ? { first: info.state.first_seq, last: info.state.last_seq } : null;
  }

  /** Reads from `fromSeq` forever (an ordered consumer: it recreates itself after reconnects). Break out, or abort `signal`, to stop. */
  async *read(opts: ReadOptions = {}): AsyncGenerator<Record_> {
    for await (const batch of this.readBatches(opts)) yield* batch;
  }

  /**
   * read() in batches of whatever has arrived; messages are decoded in the consumer's callback. A consumer that stops
   * delivering while the stream holds more for it is made again from the next sequence: after a NATS node is lost,
   * nats-server 2.9 leaves consumers on a follower replica idle — heartbeats keep coming, messages do not (measured:
   * placements unseen for minutes) — which neither the client library nor heartbeats notice.
   */
  async *readBatches(opts: ReadOptions = {}): AsyncGenerator<Record_[]> {
    let from = opts.fromSeq ?? 1;
    for (let round = 0; ; round++) {
      const { consumer, pending, cleanup } = await this.openRetrying(from, opts);
      if (opts.untilCaughtUp && pending === 0) return cleanup();
      let caughtUp = false;
      let buffer: Record_[] = [];
      let wake: (() => void) | null = null;
      let ended = false;
      let stalled = false;
      let failure: unknown = null;
      let arrived = 0;
      let last: Delivered | null = null;
      let checking = false;
      const notify = () => {
        const w = wake;
        wake = null;
        w?.();
      };
      const messages = await consumer.consume({
        // no more asked for than the read may take (a point of the log: `hyper state --seq`)
        max_messages: opts.untilSeq ? Math.max(1, Math.min(20_000, opts.untilSeq - from + 1)) : 20_000,
        // a consumer lost with its NATS node is noticed after two missed heartbeats and made again where the stream now
        // leads: 4 s, not the client's default of 30 s (measured ~43 s before a host saw its placements again)
        expires: 10_000,
        idle_heartbeat: 2_000,
        callback: (m) => {
          if (caughtUp || stalled) return;
          // past the read's last sequence: the read ends there, nothing after it decoded
          if (opts.untilSeq !== undefined && streamSeqOf((m as unknown as { reply: string }).reply) > opts.untilSeq) {
            caughtUp = true;
            return notify();
          }
          const r = this.decodeOwn(m);
          if (opts.keepRaw) r.raw = m.data;
          buffer.push(r);
          arrived++;
          if (!opts.untilCaughtUp) last = { seq: r.seq, msgId: m.headers?.get('Nats-Msg-Id') || null };
          from = r.seq + 1;
          // the end of the stream as it stood when the read began (a filtered one included): the consumer's pending count then,
          // reached by its own delivery sequence — not "nothing left now", which a busy stream may never reach
          if (opts.untilCaughtUp && (consumerSeqOf(m) >= pending || pendingOf(m) === 0 || r.seq === opts.untilSeq)) caughtUp = true;
          notify();
        },
      });
      void messages.closed().then((err) => {
        if (err) failure = err;
        ended = true;
        notify();
      });
      let seen = 0;
      let rewind: string | null = null;
      const watchdog = setInterval(() => {
        // a read that follows the stream checks it still holds the last message it gave (NATS 2.9 may lose acknowledged ones)
        if (!opts.untilCaughtUp && !this.scoped && last && !checking) {
          checking = true;
          const at = last;
          void jetstreamManager(this.nc, { timeout: 5_000 })
            .then((jsm) => rewoundBecause(jsm, STREAM, { delivered: at }))
            .then((why) => {
              if (!why || ended) return;
              rewind = why;
              void messages.close().catch(() => {});
            }, () => {})
            .finally(() => (checking = false));
        }
        if (arrived !== seen) return void (seen = arrived);
        const idleAt = arrived;
        // the consumer's own word first; one made during an election may count nothing pending, or not answer at all, while
        // the stream holds its next message (measured: a pod's accepted intent unseen for 20-30 s after a node kill, the
        // library waiting out its own timeouts), so the stream is asked too; no answer from either: JetStream is electing
        void consumer
          .info()
          .then((i) => i.num_pending > 0, () => false)
          .then(async (pending) => pending || (await this.holdsFrom(from, opts.filter)))
          .then((behind) => {
            if (behind && arrived === idleAt && !ended) {
              stalled = true;
              void messages.close().catch(() => {});
            }
          });
      }, STALL_CHECK_MS);
      watchdog.unref();
      const stop = () => void messages.close().catch(() => {});
      opts.signal?.addEventListener('abort', stop, { once: true });
      try {
        for (;;) {
          if (buffer.length) {
            const out = buffer;
            buffer = [];
            yield out;
          } else if (caughtUp) {
            return;
          } else if (ended) {
            if (rewind && !opts.signal?.aborted) throw new StreamRewoundError(rewind);
            if (stalled && !opts.signal?.aborted) break; // made again from `from`
            if (failure) throw new EventStoreError('read', `reading ${STREAM} failed: ${(failure as Error).message}`, { cause: failure });
            return;
          } else {
            await new Promise<void>((r) => (wake = r));
          }
        }
      } finally {
        clearInterval(watchdog);
        opts.signal?.removeEventListener('abort', stop);
        await messages.close().catch(() => {});
        cleanup();
      }
      this.onStall?.(from, round + 1);
    }
  }

  /**
   * Whether the stream holds a message at or after `from` for the filter, asked of the stream (not of a consumer): its last
   * message on a single subject, or its last sequence when unfiltered. A wildcard filter cannot be asked this way: false.
   */
  private async holdsFrom(from: number, filter?: string): Promise<boolean> {
    try {
      const jsm = await jetstreamManager(this.nc, { timeout: 5_000 });
      if (!filter) return !this.scoped && (await jsm.streams.info(STREAM)).state.last_seq >= from;
      if (/[*>]/.test(filter)) return false;
      return ((await jsm.direct.getMessage(STREAM, { last_by_subj: filter }))?.seq ?? 0) >= from;
    } catch {
      return false;
    }
  }

  /**
   * The read's consumer, asked for again while JetStream does not answer (a leader election after a node loss): a following
   * read never gives up on it (the daemon's view would stop), a read of what is stored gives up after ~40 s.
   */
  private async openRetrying(from: number, opts: ReadOptions) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await openConsumer(this.nc, STREAM, { filter: opts.filter, fromSeq: from, scoped: this.scoped });
      } catch (err) {
        if (opts.signal?.aborted || !isTransient((err as { cause?: unknown }).cause ?? err) || (opts.untilCaughtUp && attempt >= 8)) throw err;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Told when a read's consumer stalled and was made again (logging). */
  onStall: ((fromSeq: number, times: number) => void) | null = null;
}

/** How often a read checks that its consumer still delivers when nothing arrives. */
const STALL_CHECK_MS = 2_000;

export interface ReadOptions {
  fromSeq?: number;
  filter?: string;
  signal?: AbortSignal;
  /** Stop once everything stored when the read began has been delivered. */
  untilCaughtUp?: boolean;
  /** Keep each message's bytes on its record (raw), as an audit export writes them. */
  keepRaw?: boolean;
  /** With untilCaughtUp: end at this sequence too (the rest is neither asked for beyond one batch nor decoded). */
  untilSeq?: number;
}

/** A daemon folds every event it appended itself: those are recognised by their exact text and not validated twice. */
function decodeWith(mine: Map<string, HyperEvent>, m: JsMsg): Record_ {
  const seq = streamSeqOf((m as unknown as { reply: string }).reply);
  if (mine.size) {
    const text = decoder.decode(m.data);
    const own = mine.get(text);
    if (own && subjectOf(own) === m.subject) {
      mine.delete(text);
      return { ok: true, seq, subject: m.subject, event: own };
    }
    return decodeRecord(seq, m.subject, text);
  }
  return decodeRecord(seq, m.subject, m.data);
}

export function decode(m: JsMsg): Record_ {
  return decodeRecord(streamSeqOf((m as unknown as { reply: string }).reply), m.subject, m.data);
}

/**
 * The stream sequence from a JetStream ack subject, without the client building its whole delivery-info object
 * for every message (a fifth of replay time). 9 tokens: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>;
 * 11 or more: the same after <domain>.<account hash>.
 */
export function streamSeqOf(reply: string): number {
  return ackToken(reply, 5);
}

/** The consumer's own sequence of this delivery (the ack subject's <cseq>): 1 for the first message it delivers. */
export function consumerSeqOf(m: JsMsg): number {
  return ackToken((m as unknown as { reply: string }).reply, 6);
}

/** Messages left for the consumer after this one (the ack subject's <pending>). */
export function pendingOf(m: JsMsg): number {
  return ackToken((m as unknown as { reply: string }).reply, 8);
}

function ackToken(reply: string, k9: number): number {
  const dots: number[] = [];
  for (let i = reply.indexOf('.'); i !== -1; i = reply.indexOf('.', i + 1)) dots.push(i);
  const k = dots.length === 8 ? k9 : k9 + 2;
  return parseInt(reply.slice(dots[k - 1] + 1, dots[k] ?? reply.length), 10);
}

/** Validates one stored message (from JetStream or from a recorded log file) into a record. */
export function decodeRecord(seq: number, subject: string, data: Uint8Array | string): Record_ {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
  } catch (err) {
    return { ok: false, seq, subject, issues: [{ path: '', message: `not JSON: ${(err as Error).message}` }] };
  }
  return decodeParsed(seq, subject, raw);
}

/** decodeRecord for a message already parsed from JSON (an audit trail's line); the record may keep `raw` itself. */
export function decodeParsed(seq: number, subject: string, raw: unknown): Record_ {
  const r = safeParseEvent(raw);
  if (!r.ok) return r.newer ? { ok: false, seq, subject, issues: r.issues, newer: r.newer } : { ok: false, seq, subject, issues: r.issues };
  if (subjectOf(r.event) !== subject) {
    return { ok: false, seq, subject, issues: [{ path: 'pod' in r.event ? 'pod' : 'host', message: `names ${subjectOf(r.event)} but was published on ${subject}` }] };
  }
  return { ok: true, seq, subject, event: r.event };
}

