// The lease worker: a thread of its own that renews this daemon's lease, watches everyone's, says which hosts went silent
// and when this daemon must fence itself — so a main event loop saturated by a flood of events (measured: 3 s late
// timers with five daemons on two cores) neither misses a renewal nor mistakes others' queued renewals for silence.
import { parentPort, workerData } from 'node:worker_threads';
import { Kvm } from '@nats-io/kv';
import { connectNats, type NatsAuth, type NatsTls } from '../../nats/connect.js';
import { HEARTBEAT_BUCKET } from '../../events/schemas/subjects.js';
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
let renewing = false;
/** Since when (monoNow) renewals fail, or null while NATS takes them. */
let renewFailingSince: number | null = null;
let stopped = false;
const reported = new Set<string>();

const nc = await connectNats(servers, name, { auth, tls });
const kv = await new Kvm(nc).open(HEARTBEAT_BUCKET);
/**
 * This daemon's own renewals come back through the watch like everyone's: while acknowledged renewals of ours stop
 * arriving there, the watch is what went silent (its consumer was on a NATS node that died, and is being made again),
 * not the others — so no one is judged until it delivers again, and then everyone's lease starts afresh.
 */
let ownSeenAt = monoNow();
let watchStale = false;
let watch = await kv.watch();
let watchStartedAt = monoNow();
const follow = async (w: typeof watch) => {
  for await (const e of w) {
    if (e.operation !== 'PUT') continue;
    const hb = parseHeartbeat(e.string());
    if (!hb) continue;
    const at = monoNow();
    if (hb.daemon === daemonId) ownSeenAt = at;
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
void follow(watch).catch(() => {});

/** Whether the watch lags behind this daemon's own acknowledged renewals by more than two beats; rewatches when it lags a lease. */
function watchLags(now: number): boolean {
  const lags = lastRenewalSentAt - ownSeenAt > 2 * lease.beatMs;
  if (lags && !watchStale) post({ t: 'watch-stale', lagMs: Math.round(lastRenewalSentAt - ownSeenAt) });
  if (!lags && watchStale) {
    // delivering again: the silence measured meanwhile was ours, so every host's lease starts afresh from now
    for (const h of hosts) seen.set(h.id, now);
    post({ t: 'seen', updates: hosts.map((h) => [h.id, now]) });
    post({ t: 'watch-ok' });
  }
  watchStale = lags;
  if (lags && now - watchStartedAt > lease.leaseMs && !stopped) {
    watchStartedAt = now;
    const old = watch;
    void kv.watch().then((w) => {
      watch = w;
      old.stop();
      void follow(w).catch(() => {});
    }, () => {});
  }
  return lags;
}

async function renew(): Promise<void> {
  if (renewing || stopped) return;
  renewing = true;
  const sentAt = monoNow();
  try {
    const hb: Heartbeat = { at: Date.now(), daemon: daemonId, leaseMs: lease.leaseMs, hosts: hosts.filter((h) => mine.has(h.id)).map((h) => [h.id, h.epoch]) };
    await kv.put(daemonId, JSON.stringify(hb), { timeout: lease.leaseMs });
    if (sentAt > lastRenewalSentAt) lastRenewalSentAt = sentAt;
    publishLease(true);
    const now = monoNow();
    if (renewFailingSince !== null && now - renewFailingSince > lease.beatMs) {
      // NATS took none of our renewals for a while: the others' silence then was NATS's too, so their leases start afresh
      for (const h of hosts) seen.set(h.id, now);
      post({ t: 'seen', updates: hosts.map((h) => [h.id, now]) });
    }
    renewFailingSince = null;
    post({ t: 'renewed', sentAt, tookMs: Math.round(monoNow() - sentAt) });
    if (fenced) {
      fenced = false;
      post({ t: 'recover' });
    }
  } catch (err) {
    renewFailingSince ??= sentAt;
    post({ t: 'renew-failed', message: (err as Error).message, silentMs: Math.round(monoNow() - lastRenewalSentAt) });
  } finally {
    renewing = false;
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
  if (renewFailingSince !== null && now - renewFailingSince > lease.beatMs) return;
  const lastSeen = (id: string) => seen.get(id) ?? startedAt;
  for (const h of hostsToDeclareLost(hosts, lease, lastSeen, now, mine)) {
    const key = `${h.id}/${h.epoch}`;
    if (reported.has(key)) continue;
    reported.add(key);
    post({ t: 'silent', host: h.id, epoch: h.epoch, silentMs: Math.round(now - lastSeen(h.id)) });
  }
}

const renewTimer = setInterval(() => void renew(), lease.beatMs);
const checkTimer = setInterval(check, Math.max(25, Math.round(lease.marginMs / 4)));

port.on('message', (m: ToWorker) => {
  if (m.t === 'hosts') {
    hosts = m.hosts;
    // a host that is up again (a new epoch) is judged afresh, from now
    for (const h of hosts) if (h.state === 'up' && !reported.has(`${h.id}/${h.epoch}`) && m.joined?.includes(h.id)) seen.set(h.id, monoNow());
    for (const key of [...reported]) if (!hosts.some((h) => `${h.id}/${h.epoch}` === key && h.state === 'up')) reported.delete(key);
  } else if (m.t === 'renew') {
    void renew();
  } else if (m.t === 'retry-silent') {
    reported.delete(`${m.host}/${m.epoch}`);
  } else if (m.t === 'stop') {
    stopped = true;
    // the daemon stops on purpose and its hosts have left: no one declares them lost, so their VMs need no fencing
    if (m.left) publishLease(false);
    clearInterval(renewTimer);
    clearInterval(checkTimer);
    watch.stop();
    void nc.close().finally(() => post({ t: 'stopped' }));
  }
});
post({ t: 'ready' });
