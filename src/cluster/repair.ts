// `hyper cluster repair`: brings the replicas of hyper's streams back in line with their leaders. nats-server 2.9 can leave a
// replica holding other messages than its leader after a reset under load (seen here: a durable consumer led from a replica
// with 1,023 intents while the stream's leader held 901); scaling a stream to one replica and back, as nats-server's own
// maintainers advise for it, makes the other replicas again from the leader. What only a diverged replica held is dropped.
import { AckPolicy, jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';

export interface Repaired { stream: string; replicas: number; messages: number; seconds: number }

/** hyper's streams and buckets: HYPER_* and the KV_hyper-* ones. */
const ours = (name: string) => name.startsWith('HYPER_') || name.startsWith('KV_hyper-');

export async function repairStreams(nc: NatsConnection, progress: (msg: string) => void, o: { streams?: string[]; timeoutMs?: number } = {}): Promise<Repaired[]> {
  const jsm = await jetstreamManager(nc, { timeout: 20_000 });
  const all: StreamInfo[] = [];
  for await (const s of jsm.streams.list()) if (ours(s.config.name)) all.push(s);
  const unknown = (o.streams ?? []).filter((n) => !all.some((s) => s.config.name === n));
  if (unknown.length) throw new HyperError('invalid', `--stream: no stream ${unknown.join(', ')} (hyper's are: ${all.map((s) => s.config.name).join(', ')})`);
  const chosen = all.filter((s) => (o.streams?.length ? o.streams.includes(s.config.name) : true) && (s.config.num_replicas ?? 1) > 1);
  if (!chosen.length) progress('no replicated stream to repair (every one has a single replica)');
  const out: Repaired[] = [];
  for (const s of chosen) {
    const name = s.config.name;
    const replicas = s.config.num_replicas;
    const t0 = performance.now();
    progress(`${name}: down to 1 replica (its leader ${s.cluster?.leader ?? '?'} keeps ${s.state.messages} messages)…`);
    await jsm.streams.update(name, { ...s.config, num_replicas: 1 });
    await until(jsm, name, (i) => (i.cluster?.replicas ?? []).length === 0, o.timeoutMs, 'to drop its other replicas');
    progress(`${name}: back to ${replicas} replicas, made again from the leader…`);
    await jsm.streams.update(name, { ...s.config, num_replicas: replicas });
    const done = await until(jsm, name, (i) => (i.cluster?.replicas ?? []).length === replicas - 1 && (i.cluster?.replicas ?? []).every((r) => r.current && !r.offline), o.timeoutMs, `to have ${replicas - 1} current replicas again`);
    progress(`${name}: ${replicas} replicas, all current (${done.state.messages} messages); reading it back…`);
    await untilReadable(jsm, name, o.timeoutMs);
    out.push({ stream: name, replicas, messages: done.state.messages, seconds: (performance.now() - t0) / 1000 });
    progress(`${name}: ${replicas} replicas, all current and read back (${done.state.messages} messages)`);
  }
  return out;
}

async function until(jsm: JetStreamManager, name: string, ok: (i: StreamInfo) => boolean, timeoutMs = 60_000, what: string): Promise<StreamInfo> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const i = await jsm.streams.info(name).catch(() => null);
    if (i && ok(i)) return i;
    if (performance.now() > deadline) throw new HyperError('timeout', `${name} did not come ${what} within ${Math.round(timeoutMs / 1000)} s${i ? ` (replicas: ${(i.cluster?.replicas ?? []).map((r) => `${r.name}${r.current ? '' : ' (behind)'}${r.offline ? ' (offline)' : ''}`).join(', ') || 'none'})` : ''} — is every NATS node up? (hyper cluster status)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads in a row that must each see the whole stream before a repaired stream counts as readable. */
const READS_IN_A_ROW = 6;

/**
 * Replicas that say they are current may still answer a read short for a moment: a hosts list read right after a repair
 * once came back empty (CI). Reads land where nats-server puts them (a direct get on whichever replica answers first,
 * a new consumer on a peer it picks), so the stream is read back until READS_IN_A_ROW of each kind saw all of it.
 */
async function untilReadable(jsm: JetStreamManager, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let inARow = 0;
  let short = '';
  while (inARow < READS_IN_A_ROW) {
    if (performance.now() > deadline) throw new HyperError('timeout', `${name} has current replicas, but reads still came back short after ${Math.round(timeoutMs / 1000)} s (${short}) — run hyper cluster repair --stream ${name} again`);
    const info = await jsm.streams.info(name);
    short = await shortRead(jsm, info).catch((err: Error) => `a read failed: ${err.message}`);
    if (short) {
      inARow = 0;
      await new Promise((r) => setTimeout(r, 250));
    } else inARow++;
  }
}

/** What one read of each kind missed, or '' when both saw the stream as its leader described it (before and after). */
async function shortRead(jsm: JetStreamManager, info: StreamInfo): Promise<string> {
  const { messages, last_seq: last } = info.state;
  if (!messages) return '';
  const name = info.config.name;
  // the message at the last sequence or, in a bucket where a newer put replaced it meanwhile, the one after it
  if (info.config.allow_direct && !(await jsm.direct.getMessage(name, { seq: last, next_by_subj: '>' }).catch(() => null))) return `a direct get of its last message (${last}) found nothing`;
  const consumer = `hyper_repair_${nuid.next()}`;
  const c = await jsm.consumers.add(name, { name: consumer, ack_policy: AckPolicy.None, mem_storage: true, num_replicas: 1, inactive_threshold: 10_000_000_000 });
  void jsm.consumers.delete(name, consumer).catch(() => {});
  // a bucket's entries may age out meanwhile: the fewer of the two counts is what the consumer had to see
  const atLeast = Math.min(messages, (await jsm.streams.info(name)).state.messages);
  return c.num_pending < atLeast ? `a new consumer saw ${c.num_pending} of ${atLeast} messages` : '';
}
