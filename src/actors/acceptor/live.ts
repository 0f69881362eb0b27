// The acceptor: every daemon pulls intents from the shared durable consumer on HYPER_INTENTS, validates and authorizes
// each, and appends it to its pod's log as the accepted fact (same id, so a redelivered intent lands once), or records
// intent.rejected with the reason so its sender sees why. Clients never write a pod's log themselves.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConflictError, ValidationError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isTransient } from '../../nats/errors.js';
import { podEvent, safeParseEvent, type PodEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import { ACCEPT_CONSUMER, DEFAULT_TENANT, INTENT_PREFIX, INTENT_STREAM } from '../../events/store/subjects.js';

/** Intents handled at once by one daemon (each waits on JetStream, not on the CPU). */
const MAX_IN_FLIGHT = 256;

export const INTENT_TYPES = new Set(['pod.requested', 'pod.start.requested', 'pod.stop.requested', 'pod.delete.requested']);

type Verdict = { ok: true; event: PodEvent } | { ok: false; pod: string | null; intent: string; intentType: string; reason: string; issues?: { path: string; message: string }[] };

/** Pure: what an intent message is, judged by its subject and body alone. */
export function judgeIntent(subject: string, data: Uint8Array): Verdict {
  const [tenant, pod, ...rest] = subject.slice(INTENT_PREFIX.length).split('.');
  const podToken = pod && rest.length === 0 ? pod : null;
  let raw: { id?: unknown; type?: unknown } | null = null;
  try {
    raw = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    return { ok: false, pod: podToken, intent: 'unknown', intentType: 'unknown', reason: `not JSON: ${(err as Error).message}` };
  }
  const intent = typeof raw?.id === 'string' && raw.id.length <= 200 ? raw.id : 'unknown';
  const intentType = typeof raw?.type === 'string' && raw.type.length <= 64 ? raw.type : 'unknown';
  const no = (reason: string, issues?: { path: string; message: string }[]): Verdict => ({ ok: false, pod: podToken, intent, intentType, reason, issues });
  if (!podToken) return no(`intents go to ${INTENT_PREFIX}<tenant>.<pod>, not ${subject}`);
  if (tenant !== DEFAULT_TENANT) return no(`tenant "${tenant}" does not exist (this cluster has only "${DEFAULT_TENANT}")`);
  if (!INTENT_TYPES.has(intentType)) return no(`"${intentType}" is not an intent a client may submit (${[...INTENT_TYPES].join(', ')})`);
  const r = safeParseEvent(raw);
  if (!r.ok) return no(`invalid ${intentType}: ${r.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, r.issues);
  const e = r.event as PodEvent;
  if (e.pod !== podToken) return no(`the intent names pod ${e.pod} but was published for pod ${podToken}`);
  return { ok: true, event: e };
}

export class Acceptor {
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: EventStore,
    private readonly daemonId: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    // idempotent: every daemon asks for the same durable; a crashed daemon's unacked intents go to another after ack_wait
    await jsm.consumers.add(INTENT_STREAM, { durable_name: ACCEPT_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30_000_000_000, max_deliver: -1 });
    const consumer = await jetstream(this.nc).consumers.get(INTENT_STREAM, ACCEPT_CONSUMER);
    this.messages = await consumer.consume({ max_messages: 1_000, expires: 5_000 });
    // many intents at once (each is a round trip or two to JetStream), but one pod's intents in the order they came
    const inflight = new Set<Promise<void>>();
    const perPod = new Map<string, Promise<void>>();
    this.loop = (async () => {
      for await (const m of this.messages!) {
        const key = m.subject;
        const p: Promise<void> = (perPod.get(key) ?? Promise.resolve()).then(() => this.handle(m)).finally(() => {
          inflight.delete(p);
          if (perPod.get(key) === p) perPod.delete(key);
        });
        perPod.set(key, p);
        inflight.add(p);
        if (inflight.size >= MAX_IN_FLIGHT) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    })().catch((err) => this.log.error({ err }, 'the intent acceptor stopped'));
  }

  async stop(): Promise<void> {
    await this.messages?.close().catch(() => {});
    await this.loop;
  }

  private async handle(m: JsMsg): Promise<void> {
    const v = judgeIntent(m.subject, m.data);
    try {
      if (v.ok) await this.accept(v.event);
      else await this.reject(v);
      m.ack();
    } catch (err) {
      if (isTransient(err)) return void m.nak(500);
      this.log.error({ err, subject: m.subject, seq: m.seq }, 'could not accept or reject an intent; leaving it for another try');
      m.nak(2_000);
    }
  }

  /** The accepted fact is the intent itself, on its pod's subject: same id (msgID), same author and time. */
  private async accept(e: PodEvent): Promise<void> {
    if (e.type === 'pod.requested') {
      try {
        await this.store.append(e, { expectLastSeq: 0, validated: true });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        // the pod exists: this very intent accepted before (a redelivery), or another pod's id
        const first = (await this.store.history(e.pod)).find((r) => r.ok);
        if (first?.ok && first.event.id === e.id) return;
        await this.reject({ ok: false, pod: e.pod, intent: e.id, intentType: e.type, reason: `a pod with id ${e.pod} already exists — pick another id` });
      }
      return;
    }
    if ((await this.store.lastPodSeq(e.pod)) === 0) return this.reject({ ok: false, pod: e.pod, intent: e.id, intentType: e.type, reason: `no pod ${e.pod}` });
    await this.store.append(e, { validated: true });
  }

  private async reject(v: Extract<Verdict, { ok: false }>): Promise<void> {
    this.log.warn({ pod: v.pod, intent: v.intent, type: v.intentType, reason: v.reason }, 'rejected an intent');
    if (!v.pod) return; // nowhere to tell its sender: the log line is all
    const e = podEvent('intent.rejected', v.pod, { intent: v.intent, intentType: v.intentType, reason: v.reason.slice(0, 4000), ...(v.issues ? { issues: v.issues.slice(0, 100) } : {}) }, { id: `${v.pod}.rejected.${v.intent}`.slice(0, 200), at: Date.now(), by: `host:${this.daemonId}`, causation: v.intent.slice(0, 200) });
    await this.store.append(e).catch((err) => {
      if (err instanceof ValidationError) return void this.log.error({ err }, 'an intent rejection does not validate');
      throw err;
    });
  }
}
