// The acceptor: every daemon pulls intents from the shared durable consumer on HYPER_INTENTS, validates and authorizes
// each, and appends it to its pod's log as the accepted fact (same id, so a redelivered intent lands once), or records
// intent.rejected with the reason so its sender sees why. Clients never write a pod's log themselves.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConflictError, ValidationError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isTransient } from '../../nats/errors.js';
import { podEvent, safeParseEvent, tenantName, type PodEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import { ACCEPT_CONSUMER, ACCEPT_DELIVER, ACCEPT_GROUP, LEGACY_ACCEPT_CONSUMER, DEFAULT_TENANT, INTENT_PREFIX, INTENT_STREAM, tenantOf, type PodAddress } from '../../events/schemas/subjects.js';
import type { ClusterView, PodRecord } from '../../model/cluster-view.js';
import { foldPod, initialPod } from '../../model/pod-fold.js';
import { policyRefusal } from '../../model/policy.js';
import { REWIND_ADVICE, rewound, type Delivered } from '../../events/store/rewind.js';
import type { ClusterFirst } from '../cluster-first.js';

/**
 * Intents handled at once by one daemon: each waits on a JetStream round trip, not on the CPU, so too small a window
 * starves acceptance (256 accepted ~1,400/s here beside the daemon's other work); too large a one queues thousands of
 * appends in the stream ahead of the placements that follow them (4,096: placements ~1 s behind their acceptance).
 * 1,024 accepted a 10,000-intent burst as fast as 4,096 with placements right behind (measured 2026-12-06).
 */
const MAX_IN_FLIGHT = 1_024;
/** The durable's max_ack_pending (made with this since 0.6; the window above may change without remaking it). */
const MAX_ACK_PENDING = 8_192;

export const INTENT_TYPES = new Set(['pod.requested', 'pod.start.requested', 'pod.stop.requested', 'pod.delete.requested', 'pod.kill.requested', 'pod.rename.requested']);

type Refusal = { ok: false; at: PodAddress | null; intent: string; intentType: string; reason: string; issues?: { path: string; message: string }[] };
type Verdict = { ok: true; event: PodEvent; tenant: string } | Refusal;

/** Pure: what an intent message is, judged by its subject and body alone. The subject's tenant is nats-server's word: a tenant's credentials may publish only under it. */
export function judgeIntent(subject: string, data: Uint8Array): Verdict {
  const [tenant, pod, ...rest] = subject.slice(INTENT_PREFIX.length).split('.');
  const at = pod && rest.length === 0 ? { pod, tenant } : null;
  let raw: { id?: unknown; type?: unknown } | null = null;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, at, intent: 'unknown', intentType: 'unknown', reason: `not JSON: ${(err as Error).message}` };
  }
  const intent = typeof raw?.id === 'string' && raw.id.length <= 200 ? raw.id : 'unknown';
  const intentType = typeof raw?.type === 'string' && raw.type.length <= 64 ? raw.type : 'unknown';
  const no = (reason: string, issues?: { path: string; message: string }[]): Verdict => ({ ok: false, at, intent, intentType, reason, issues });
  if (!at) return no(`intents go to ${INTENT_PREFIX}<tenant>.<pod>, not ${subject}`);
  if (!tenantName.safeParse(tenant).success) return no(`"${tenant}" is not a tenant name`);
  if (!INTENT_TYPES.has(intentType)) return no(`"${intentType}" is not an intent a client may submit (${[...INTENT_TYPES].join(', ')})`);
  const r = safeParseEvent(raw);
  if (!r.ok) return no(`invalid ${intentType}: ${r.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, r.issues);
  const e = r.event as PodEvent;
  if (e.pod !== pod) return no(`the intent names pod ${e.pod} but was published for pod ${pod}`);
  if (e.tenant !== undefined && e.tenant !== tenant) return no(`the intent names tenant ${e.tenant} but was published for tenant ${tenant}`, [{ path: 'tenant', message: `must be ${tenant}, the tenant it is published for` }]);
  return { ok: true, event: e, tenant };
}

/**
 * Pure: whether the tenant may do this, judged on the folded view. The accepted fact carries the pod's tenant (which picks
 * its subject); `unknown` means the view has not seen the pod (yet): the store decides.
 */
export function authorize(v: Extract<Verdict, { ok: true }>, view: ClusterView): { ok: true; event: PodEvent } | Refusal | { unknown: PodAddress } {
  const { event: e, tenant } = v;
  const no = (reason: string, issues?: { path: string; message: string }[]): Refusal => ({ ok: false, at: { pod: e.pod, tenant }, intent: e.id, intentType: e.type, reason, issues });
  const t = view.activeTenant(tenant);
  if (!t) return no(`tenant ${tenant} does not exist (or was removed) — an admin adds it with: hyper tenant add ${tenant}`);
  const pod = view.pods.get(e.pod);
  if (e.type === 'pod.requested') {
    // ids are global (VM dirs and logs are keyed by them); within the tenant, the append's OCC tells a redelivery from a clash
    if (pod && tenantOf(pod.context) !== tenant) return no(`a pod with id ${e.pod} already exists — pick another id`);
    const refused = policyRefusal(tenant, t.policy, e.data.spec);
    if (refused) return no(`refused by tenant ${tenant}'s policy ${refused.policy}: ${refused.message}`, [{ path: refused.path, message: refused.message }]);
    // the parsed intent is this acceptor's own object: stamped in place, not copied
    (e as { tenant?: string }).tenant = tenant;
    return { ok: true, event: e };
  }
  // another tenant's pod is, to this one, no pod at all
  if (!pod || pod.state === 'deleted') return { unknown: { pod: e.pod, tenant } };
  if (tenantOf(pod.context) !== tenant) return no(`no pod ${e.pod}`);
  return { ok: true, event: withTenant(e, pod.context.tenant) };
}

function withTenant(e: PodEvent, tenant: string | null): PodEvent {
  const { tenant: _, ...rest } = e;
  return (tenant ? { ...rest, tenant } : rest) as PodEvent;
}

/**
 * The durable every daemon shares: a push consumer delivering to a queue group, so each intent goes to one daemon (to
 * another after ack_wait if that one dies first), at most max_ack_pending in hand. Not a pull consumer: on nats-server 2.9
 * a pull now and then ended without its 408, and the client noticed only by missed heartbeats, so intents waited out the
 * pull's expiry plus two heartbeats (measured at 200 intents/s: p95 1.1 s, max 1.6 s with 1 s pulls; 5 s with 5 s pulls);
 * short pulls fixed that only by halving throughput. 0.2's pull durable (`accept`) is replaced, resuming after its ack floor.
 */
const acceptConsumerBase = () => ({ durable_name: ACCEPT_CONSUMER, deliver_subject: ACCEPT_DELIVER, deliver_group: ACCEPT_GROUP, ack_policy: AckPolicy.Explicit, ack_wait: 30_000_000_000, max_deliver: -1, max_ack_pending: MAX_ACK_PENDING });

async function ensureAcceptConsumer(jsm: JetStreamManager): Promise<void> {
  const base = acceptConsumerBase();
  if (await jsm.consumers.info(INTENT_STREAM, ACCEPT_CONSUMER).catch(() => null)) return;
  const old = await jsm.consumers.info(INTENT_STREAM, LEGACY_ACCEPT_CONSUMER).catch(() => null);
  const start = old ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: old.ack_floor.stream_seq + 1 } : { deliver_policy: DeliverPolicy.All };
  // idempotent: daemons starting together ask for the same durable with the same config
  await jsm.consumers.add(INTENT_STREAM, { ...base, ...start });
  if (old) await jsm.consumers.delete(INTENT_STREAM, LEGACY_ACCEPT_CONSUMER).catch(() => {});
}

/**
 * Makes the durable again, delivering from `since`: the stream lost intents it had delivered and hands their sequences to
 * new ones, which a durable positioned past them would skip. What it delivers again that was accepted before lands once
 * (the accepted fact's id is its msgID; a pod.requested also expects an empty subject).
 */
async function repositionAcceptConsumer(jsm: JetStreamManager, since: Date): Promise<void> {
  await jsm.consumers.delete(INTENT_STREAM, ACCEPT_CONSUMER).catch(() => {});
  await jsm.consumers.add(INTENT_STREAM, { ...acceptConsumerBase(), deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() });
}

/** How often an acceptor checks that HYPER_INTENTS still holds what it was delivered. */
const REWIND_CHECK_MS = 5_000;
/** Delivered again after a rewind: since shortly before the last good check, within NATS's 2 min dedup window. */
const REWIND_MARGIN_MS = 30_000;
const REWIND_MAX_BACK_MS = 100_000;
const DIVERGED_WITHIN_MS = 60_000;
/** After the durable is made again, how long deliveries it made before are left to drain untracked. */
const REWIND_QUIET_MS = 2_000;
/**
 * The durable unanswering this long while its stream answers is made again: after repeated node kills nats-server 2.9 left
 * it with "NO quorum, stalled" for minutes with 2 of 3 nodes up (measured: no intent accepted for 7 min); made again, its
 * new replicas are placed on the nodes that are up and it delivered at once. Elections take ~5-12 s here.
 */
const UNANSWERED_REMAKE_MS = 20_000;

/** What the rewind check compares, read from the message only then (its headers are parsed on first use). */
const deliveredOf = (m: JsMsg | null): Delivered | null => (m ? { seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') || null } : null);

export class Acceptor {
  private messages: ConsumerMessages | null = null;
  /** Resolves once every intent in hand is settled, after stop(). */
  private drained: Promise<void> | null = null;
  /** The highest intent delivered to this daemon (kept whole: its msgID is read only when checked), and when the stream last proved to still hold what was delivered. */
  private delivered: JsMsg | null = null;
  private checkedAt = Date.now();
  private rewindTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** Times the durable was made again after HYPER_INTENTS lost delivered intents (tests, status). */
  repositioned = 0;
  private repositionedAt = 0;
  private toldDiverged = 0;
  /** Since when the durable has not answered (0: it answers). */
  private unansweredSince = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: EventStore,
    private readonly view: ClusterView,
    private readonly daemonId: string,
    private readonly log: Logger,
    private readonly o: {
      /** Told how many intents are in hand (cluster-first.ts). */
      backlog?: ClusterFirst;
      /** A new pod was accepted: its record as that one event folds it (the scheduler places it at once). */
      onAccepted?: (pod: PodRecord) => void;
    } = {},
  ) {}

  async start(): Promise<void> {
    await ensureAcceptConsumer(await jetstreamManager(this.nc));
    // a durable left past the stream's end by a loss is made again before anything is delivered from it
    await this.checkRewind();
    const consumer = await jetstream(this.nc).consumers.getPushConsumer(INTENT_STREAM, ACCEPT_CONSUMER);
    // many intents at once (each is a round trip or two to JetStream), but one pod's intents in the order they came
    const perPod = new Map<string, Promise<void>>();
    let inflight = 0;
    // delivered while MAX_IN_FLIGHT are in hand (at most max_ack_pending): started as slots free up, in order
    const waiting: JsMsg[] = [];
    let head = 0;
    let closing: (() => void) | null = null;
    const tell = () => this.o.backlog?.holding(inflight + waiting.length - head);
    const begin = (m: JsMsg) => {
      const key = m.subject;
      inflight++;
      const before = perPod.get(key);
      // the common case (no earlier intent of this pod still in hand) starts at once, without a chained promise
      const p: Promise<void> = before ? before.then(() => this.handle(m)) : this.handle(m);
      perPod.set(key, p);
      void p.finally(() => settle(key, p));
    };
    const settle = (key: string, p: Promise<void>) => {
      if (perPod.get(key) === p) perPod.delete(key);
      inflight--;
      if (head < waiting.length) {
        begin(waiting[head++]);
        if (head === waiting.length) waiting.length = head = 0;
      }
      tell();
      if (inflight === 0) closing?.();
    };
    // a callback, not an iterator: every intent of one socket read is handled in the same turn, so their appends (and
    // later their acks) leave in one write; an iterator handed them over one microtask apart, one write each
    this.messages = await consumer.consume({
      callback: (m) => {
        if (inflight < MAX_IN_FLIGHT) begin(m);
        else waiting.push(m);
        tell();
      },
    });
    const stopped = (err: unknown): void => void (err && this.log.error({ err }, 'the intent acceptor stopped'));
    this.drained = this.messages.closed().then(
      (err) => {
        stopped(err);
        return new Promise<void>((r) => {
          closing = r;
          if (inflight === 0) r();
        });
      },
      stopped,
    );
    this.rewindTimer = setInterval(() => void this.checkRewind(), REWIND_CHECK_MS);
    this.rewindTimer.unref();
  }

  /** Whether HYPER_INTENTS still holds the intents it delivered; if not, the durable is made to deliver again since before. */
  async checkRewind(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const jsm = await jetstreamManager(this.nc, { timeout: 5_000 });
      const ci = await jsm.consumers.info(INTENT_STREAM, ACCEPT_CONSUMER).catch(async (err) => {
        if (await this.remakeIfStalled(jsm)) return null;
        throw err;
      });
      if (!ci) return;
      this.unansweredSince = 0;
      const r = await rewound(jsm, INTENT_STREAM, { delivered: deliveredOf(this.delivered), consumerAt: ci.delivered.stream_seq });
      if (!r) return void (this.checkedAt = Date.now());
      const why = r.why;
      // another daemon made the durable again since this one last looked: what it delivers now is from there
      if (Date.parse(ci.created) > this.checkedAt) {
        this.delivered = null;
        return void (this.checkedAt = Date.now());
      }
      // made again a moment ago and still past the end: the durable's replica holds more than the stream's leader — the
      // replicas diverged, and only making them again (hyper cluster repair) brings them back together
      if (r.consumerPastEnd && this.delivered === null && Date.now() - this.repositionedAt < DIVERGED_WITHIN_MS) {
        if (Date.now() - this.toldDiverged > DIVERGED_WITHIN_MS) this.log.error({ stream: INTENT_STREAM, why }, `${INTENT_STREAM}'s replicas disagree (${why}, just after the acceptor's durable was made again): intents may be skipped until they are repaired — run: hyper cluster repair`);
        this.toldDiverged = Date.now();
        return;
      }
      await this.remake(jsm, (since) => this.log.error({ stream: INTENT_STREAM, why, since: since.toISOString() }, `${INTENT_STREAM} lost intents: ${why}. ${REWIND_ADVICE}. Delivering intents again since ${since.toISOString()}, so those written since are not skipped`));
    } catch (err) {
      // no answer (JetStream electing): asked again at the next check
      this.log.debug({ err }, 'could not check HYPER_INTENTS for lost intents');
    } finally {
      this.checking = false;
    }
  }

  /** The durable did not answer: made again (true) once it has not for UNANSWERED_REMAKE_MS while its stream does. */
  private async remakeIfStalled(jsm: JetStreamManager): Promise<boolean> {
    const now = Date.now();
    this.unansweredSince ||= now;
    if (now - this.unansweredSince < UNANSWERED_REMAKE_MS) return false;
    // the stream answering says JetStream is not merely electing: the durable's own replicas are stuck
    await jsm.streams.info(INTENT_STREAM);
    const unansweredMs = now - this.unansweredSince;
    await this.remake(jsm, (since) => this.log.error({ stream: INTENT_STREAM, consumer: ACCEPT_CONSUMER, unansweredMs, since: since.toISOString() }, `the intent acceptor's durable ${ACCEPT_CONSUMER} has not answered for ${Math.round(unansweredMs / 1000)} s while ${INTENT_STREAM} does (its replicas lost quorum: see "NO quorum" in the NATS nodes' logs); making it again, delivering intents since ${since.toISOString()}`));
    return true;
  }

  /** Makes the durable again, delivering since shortly before the last good check (told first, with that time). */
  private async remake(jsm: JetStreamManager, tell: (since: Date) => void): Promise<void> {
    const since = new Date(Math.max(this.checkedAt - REWIND_MARGIN_MS, Date.now() - REWIND_MAX_BACK_MS));
    tell(since);
    await repositionAcceptConsumer(jsm, since);
    this.delivered = null;
    this.checkedAt = this.repositionedAt = Date.now();
    this.unansweredSince = 0;
    this.repositioned++;
  }

  async stop(): Promise<void> {
    if (this.rewindTimer) clearInterval(this.rewindTimer);
    await this.messages?.close().catch(() => {});
    await this.drained;
  }

  private async handle(m: JsMsg): Promise<void> {
    // deliveries of the durable as it was before being made again still drain for a moment: they say nothing of the stream now
    if (m.seq > (this.delivered?.seq ?? 0) && Date.now() - this.repositionedAt > REWIND_QUIET_MS) this.delivered = m;
    const v = judgeIntent(m.subject, m.data);
    try {
      if (!v.ok) await this.reject(v);
      else {
        const a = authorize(v, this.view);
        if ('unknown' in a) await this.acceptUnseen(v.event, a.unknown);
        else if (a.ok) await this.accept(a.event);
        else await this.reject(a);
      }
      m.ack();
    } catch (err) {
      if (isTransient(err)) return void m.nak(500);
      this.log.error({ err, subject: m.subject, seq: m.seq }, 'could not accept or reject an intent; leaving it for another try');
      m.nak(2_000);
    }
  }

  /** The accepted fact is the intent itself, on its pod's subject: same id (msgID), same author and time. */
  private async accept(e: PodEvent): Promise<void> {
    if (e.type !== 'pod.requested') return void (await this.store.append(e, { validated: true }));
    const at = { pod: e.pod, tenant: e.tenant ?? null };
    try {
      const r = await this.store.append(e, { expectLastSeq: 0, validated: true });
      if (!r.duplicate) this.o.onAccepted?.({ ...foldPod(initialPod(e.pod), e), seq: r.seq });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // the pod exists: this very intent accepted before (a redelivery), or another pod's id
      const first = (await this.store.history(at)).find((r) => r.ok);
      if (first?.ok && first.event.id === e.id) return;
      await this.reject({ ok: false, at, intent: e.id, intentType: e.type, reason: `a pod with id ${e.pod} already exists — pick another id` });
    }
  }

  /** An intent for a pod this daemon's view has not folded yet (just created): its log in the store says whether it exists. */
  private async acceptUnseen(e: PodEvent, at: PodAddress): Promise<void> {
    const places: PodAddress[] = at.tenant === DEFAULT_TENANT ? [at, { pod: at.pod, tenant: null }] : [at];
    for (const p of places) if ((await this.store.lastPodSeq(p)) > 0) return this.accept(withTenant(e, p.tenant));
    await this.reject({ ok: false, at, intent: e.id, intentType: e.type, reason: `no pod ${e.pod}` });
  }

  private async reject(v: Refusal): Promise<void> {
    this.log.warn({ pod: v.at?.pod, tenant: v.at?.tenant, intent: v.intent, type: v.intentType, reason: v.reason }, 'rejected an intent');
    if (!v.at) return; // nowhere to tell its sender: the log line is all
    // told on the subject the sender reads: its tenant's (a pod created before 0.3 has the old one)
    const own = this.view.pods.get(v.at.pod);
    const tenant = own && tenantOf(own.context) === v.at.tenant ? own.context.tenant : v.at.tenant;
    const e = podEvent('intent.rejected', v.at.pod, { intent: v.intent, intentType: v.intentType, reason: v.reason.slice(0, 4000), ...(v.issues ? { issues: v.issues.slice(0, 100) } : {}) }, { id: `${v.at.pod}.rejected.${v.intent}`.slice(0, 200), at: Date.now(), by: `host:${this.daemonId}`, tenant, causation: v.intent.slice(0, 200) });
    await this.store.append(e).catch((err) => {
      if (err instanceof ValidationError) return void this.log.error({ err }, 'an intent rejection does not validate');
      throw err;
    });
  }
}
