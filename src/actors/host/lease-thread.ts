// The lease worker: a thread of its own that renews this daemon's lease, watches everyone's, says which hosts went silent
// and when this daemon must fence itself — so a main event loop saturated by a flood of events (measured: 3 s late
// timers with five daemons on two cores) neither misses a renewal nor mistakes others' queued renewals for silence.
import { parentPort, workerData } from 'node:worker_threads';
import { Kvm, type KV } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsAuth, type NatsTls } from '../../nats/connect.js';
import { HEARTBEAT_BUCKETS } from '../../events/schemas/subjects.js';
import { fenceDeadline, hostsToDeclareLost, mustFence, type Lease } from '../../model/lease.js';
import { writeLeaseFile } from './lease-file.js';
import { monoNow, parseHeartbeat, type Heartbeat, type LeaseHost, type ToMain, type ToWorker } from './lease-protocol.js';

const { servers, name, auth, tls, lease, daemonId, local, leaseFile } = workerData as { servers: string[]; name: string; auth?: NatsAuth; tls?: NatsTls; lease: Lease; daemonId: string; local: string[]; leaseFile?: string };
const port = parentPort!;
const post = (m: ToMain) => port.postMessage(m);
const mine = new Set(local);

let hosts: LeaseHost[] = [];
const seen = new Map<string, number>();
const startedAt = monoNow();
let lastRenewalSentAt = monoNow();
let fenced = false;
/** Per bucket: a renewal in flight, and since when (monoNow) its renewals fail (null while it takes them). */
const renewing = HEARTBEAT_BUCKETS.map(() => false);
const failingSince: (number | null)[] = HEARTBEAT_BUCKETS.map(() => null);
/** Since when NATS takes none of our renewals (every bucket failing), or null. */
const renewFailingSince = (): number | null => (failingSince.every((f) => f !== null) ? Math.max(...(failingSince as number[])) : null);
let stopped = false;
const reported = new Set<string>();
/** How often the buckets' leaders are checked to be on different nodes. */
const LEADERS_APART_MS = 5_000;

const nc = await connectNats(servers, name, { auth, tls });
const kvm = new Kvm(nc);
const kvs: KV[] = await Promise.all(HEARTBEAT_BUCKETS.map((b) => kvm.open(b)));
/**
 * This daemon's own renewals come back through the watches like everyone's: while acknowledged renewals of ours stop
 * arriving through a bucket's watch, that watch is what went silent (its consumer was on a NATS node that died, and is
 * being made again), not the others — so no one is judged until it delivers again, and then everyone's lease starts
 * afresh. Per bucket: when our own renewal last came back through its watch, and when the last one it took was sent.
 */
const ownSeenAt = HEARTBEAT_BUCKETS.map(() => monoNow());
const ownAckedAt = HEARTBEAT_BUCKETS.map(() => monoNow());
let watchStale = false;
const watchAll = () => Promise.all(kvs.map((kv) => kv.watch()));
let watches = await watchAll();
let watchStartedAt = monoNow();
const follow = async (w: (typeof watches)[number], bucket: number) => {
  for await (const e of w) {
    if (e.operation !== 'PUT') continue;
    const hb = parseHeartbeat(e.string());
    if (!hb) continue;
    const at = monoNow();
    if (hb.daemon === daemonId) ownSeenAt[bucket] = at;
    const updates: [string, number][] = [];
    for (const [host] of hb.hosts) {
      // a renewal counts for the hosts its daemon runs now (a stale daemon's beats do not keep a rejoined host alive)
      if (hosts.find((h) => h.id === host)?.daemon !== hb.daemon) continue;
      seen.set(host, at);
      updates.push([host, at]);
    }
    if (updates.length) post({ t: 'seen', updates });
  }
};
watches.forEach((w, i) => void follow(w, i).catch(() => {}));

/** Whether the watch lags behind this daemon's own acknowledged renewals by more than two beats; rewatches when it lags a lease. */
function watchLags(now: number): boolean {
  // per bucket: a watch that misses renewals its bucket took would miss the others' too (one electing takes none: no lag)
  const lag = Math.max(...ownAckedAt.map((a, i) => a - ownSeenAt[i]));
  const lags = lag > 2 * lease.beatMs;
  if (lags && !watchStale) post({ t: 'watch-stale', lagMs: Math.round(lag) });
  if (!lags && watchStale) {
    // delivering again: the silence measured meanwhile was ours, so every host's lease starts afresh from now
    for (const h of hosts) seen.set(h.id, now);
    post({ t: 'seen', updates: hosts.map((h) => [h.id, now]) });
    post({ t: 'watch-ok' });
  }
  watchStale = lags;
  if (lags && now - watchStartedAt > lease.leaseMs && !stopped) {
    watchStartedAt = now;
    const old = watches;
    void watchAll().then((ws) => {
      watches = ws;
      for (const w of old) w.stop();
      ws.forEach((w, i) => void follow(w, i).catch(() => {}));
    }, () => {});
  }
  return lags;
}

/** One beat: a renewal into every bucket, each on its own (a bucket electing a leader holds up only its own). */
function renew(): void {
  if (stopped) return;
  const hb: Heartbeat = { at: Date.now(), daemon: daemonId, leaseMs: lease.leaseMs, hosts: hosts.filter((h) => mine.has(h.id)).map((h) => [h.id, h.epoch]) };
  const payload = JSON.stringify(hb);
  kvs.forEach((kv, i) => void renewInto(kv, i, payload));
}

async function renewInto(kv: KV, i: number, payload: string): Promise<void> {
  if (renewing[i] || stopped) return;
  renewing[i] = true;
  const sentAt = monoNow();
  try {
    await kv.put(daemonId, payload, { timeout: lease.leaseMs });
    const noneTook = renewFailingSince();
    failingSince[i] = null;
    if (sentAt > ownAckedAt[i]) ownAckedAt[i] = sentAt;
    // a renewal either bucket acknowledged holds the lease (survivors watch both)
    if (sentAt <= lastRenewalSentAt) return;
    lastRenewalSentAt = sentAt;
    publishLease(true);
    const now = monoNow();
    if (noneTook !== null && now - noneTook > lease.beatMs) {
      // NATS took none of our renewals for a while: the others' silence then was NATS's too, so their leases start afresh
      for (const h of hosts) seen.set(h.id, now);
      post({ t: 'seen', updates: hosts.map((h) => [h.id, now]) });
    }
    post({ t: 'renewed', sentAt, tookMs: Math.round(monoNow() - sentAt) });
    if (fenced) {
      fenced = false;
      post({ t: 'recover' });
    }
  } catch (err) {
    failingSince[i] ??= sentAt;
    // said once every bucket fails: one electing its leader while the other takes renewals is no trouble
    if (renewFailingSince() !== null) post({ t: 'renew-failed', message: (err as Error).message, silentMs: Math.round(monoNow() - lastRenewalSentAt) });
  } finally {
    renewing[i] = false;
  }
}

/**
 * Keeps the buckets' leaders on different NATS nodes, so that losing one node never stops every renewal at once: when
 * both are led by one node, the second is asked to step down (any daemon may ask; asking twice only moves it again).
 */
async function keepLeadersApart(): Promise<void> {
  if (stopped) return;
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    const leaders = await Promise.all(HEARTBEAT_BUCKETS.map(async (b) => (await jsm.streams.info(`KV_${b}`)).cluster));
    const [a, b] = leaders;
    if (!a?.leader || !b?.leader || a.leader !== b.leader || !(b.replicas?.length)) return;
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.KV_${HEARTBEAT_BUCKETS[1]}`, '', { timeout: 2_000 });
  } catch {
    // no answer (electing) or a single node: asked again later
  }
}

/** Tells the processes that outlive this daemon (lease-file.ts) until when the lease holds, and whether it matters. */
function publishLease(live: boolean): void {
  if (!leaseFile) return;
  // armed only while another host is up: no one else would take these pods over, so a lone host's VMs outlive its daemon
  const armed = live && hosts.some((h) => h.state === 'up' && !mine.has(h.id));
  try {
    writeLeaseFile(leaseFile, { pid: process.pid, fenceAt: fenceDeadline(lease, lastRenewalSentAt), armed });
  } catch (err) {
    post({ t: 'renew-failed', message: `cannot write ${leaseFile}: ${(err as Error).message}`, silentMs: 0 });
  }
}

function check(): void {
  const now = monoNow();
  if (!fenced && mustFence(lease, lastRenewalSentAt, now)) {
    fenced = true;
    post({ t: 'fence', silentMs: Math.round(now - lastRenewalSentAt) });
  }
  if (fenced) return; // cut off ourselves: the silence we see may be our own
  if (watchLags(now)) return; // our view of the others is what is late
  // NATS takes none of our renewals (a JetStream election, or we are the cut-off ones): no one is judged meanwhile
  const noneTook = renewFailingSince();
  if (noneTook !== null && now - noneTook > lease.beatMs) return;
  const lastSeen = (id: string) => seen.get(id) ?? startedAt;
  for (const h of hostsToDeclareLost(hosts, lease, lastSeen, now, mine)) {
    const key = `${h.id}/${h.epoch}`;
    if (reported.has(key)) continue;
    reported.add(key);
    post({ t: 'silent', host: h.id, epoch: h.epoch, silentMs: Math.round(now - lastSeen(h.id)) });
  }
}

const renewTimer = setInterval(renew, lease.beatMs);
const apartTimer = setInterval(() => void keepLeadersApart(), LEADERS_APART_MS + Math.floor(Math.random() * 1_000));
void keepLeadersApart();
const checkTimer = setInterval(check, Math.max(25, Math.round(lease.marginMs / 4)));

port.on('message', (m: ToWorker) => {
  if (m.t === 'hosts') {
    hosts = m.hosts;
    // a host that is up again (a new epoch) is judged afresh, from now
    for (const h of hosts) if (h.state === 'up' && !reported.has(`${h.id}/${h.epoch}`) && m.joined?.includes(h.id)) seen.set(h.id, monoNow());
    for (const key of [...reported]) if (!hosts.some((h) => `${h.id}/${h.epoch}` === key && h.state === 'up')) reported.delete(key);
  } else if (m.t === 'renew') {
    renew();
  } else if (m.t === 'retry-silent') {
    reported.delete(`${m.host}/${m.epoch}`);
  } else if (m.t === 'stop') {
    stopped = true;
    // the daemon stops on purpose and its hosts have left: no one declares them lost, so their VMs need no fencing
    if (m.left) publishLease(false);
    clearInterval(renewTimer);
    clearInterval(checkTimer);
    clearInterval(apartTimer);
    for (const w of watches) w.stop();
    void nc.close().finally(() => post({ t: 'stopped' }));
  }
});
post({ t: 'ready' });
