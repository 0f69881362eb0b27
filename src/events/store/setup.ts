// Idempotent creation of the event stream and KV buckets: safe for every daemon and CLI to call at start.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { EventStoreError } from '../../errors.js';
import { isNameInUse, isPermissionDenied, isStreamNotFound } from '../../nats/errors.js';
import { HEARTBEAT_BUCKETS, HOST_PREFIX, INTENT_PREFIX, INTENT_STREAM, LOG_PREFIX, LOG_STREAM, NAME_BUCKET, POD_PREFIX, SNAPSHOT_BUCKET, STREAM, TENANT_PREFIX } from '../schemas/subjects.js';

export interface StoreOptions {
  /** Stream and bucket replicas: 1 for a single server, 3 for a 3-node NATS cluster. */
  replicas?: number;
  /** Heartbeat TTL in ms: a host whose last heartbeat is older is not offered pods. */
  heartbeatTtlMs?: number;
}

export async function ensureStore(nc: NatsConnection, opts: StoreOptions = {}): Promise<JetStreamManager> {
  const replicas = opts.replicas ?? 1;
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  // the three streams are independent: asked about together (each CLI command opens them: one round trip, not three)
  await Promise.all([
    ensureStream(jsm, STREAM, {
      // pods: <tenant>.<pod> since 0.3, <pod> before (`>` covers both); hosts and tenants: one token
      subjects: [`${POD_PREFIX}>`, `${HOST_PREFIX}*`, `${TENANT_PREFIX}*`],
      num_replicas: replicas,
      allow_direct: true,
      // dedup window for msgIDs: retries of an append within it never write twice
      duplicate_window: 120_000_000_000,
    }),
    ensureStream(jsm, LOG_STREAM, {
      // <pod>.<container>.<out|err>; stores made before 0.2 used <pod>.<container> with a header, which `>` still covers
      subjects: [`${LOG_PREFIX}>`],
      num_replicas: replicas,
      // a re-attached host asks for the last message of each stream (its offset) with a direct get
      allow_direct: true,
      // output is kept a week and at most 1 GiB: logs are for reading back, the event log is the record
      max_age: 7 * 24 * 3600 * 1_000_000_000,
      max_bytes: 1024 ** 3,
    }),
    ensureStream(jsm, INTENT_STREAM, {
      subjects: [`${INTENT_PREFIX}>`],
      num_replicas: replicas,
      allow_direct: true,
      // kept as the record of who asked for what (the accepted fact cites it); a resent intent within 2 min is one intent
      max_age: 30 * 24 * 3600 * 1_000_000_000,
      duplicate_window: 120_000_000_000,
    }),
  ]);
  const kvm = new Kvm(nc);
  const ttl = opts.heartbeatTtlMs ?? 30_000;
  await Promise.all([
    ...HEARTBEAT_BUCKETS.map((b) => kvm.create(b, { history: 1, ttl, replicas })),
    kvm.create(NAME_BUCKET, { history: 1, replicas }),
    kvm.create(SNAPSHOT_BUCKET, { history: 1, replicas }),
  ]).catch((e) => {
    throw wrap(e, 'KV buckets');
  });
  return jsm;
}

/** Creates the stream, or widens the subjects of one an older version created (its messages are kept). */
async function ensureStream(jsm: JetStreamManager, name: string, config: { subjects: string[]; allow_direct?: boolean } & Record<string, unknown>): Promise<void> {
  try {
    const info = await jsm.streams.info(name);
    const have = info.config.subjects ?? [];
    if (config.subjects.some((s) => !have.includes(s)) || (config.allow_direct && !info.config.allow_direct)) {
      // subjects a wider one now covers are dropped (a stream may not list overlapping subjects)
      // a client may not change streams: the daemon, which may, does it when it starts
      await jsm.streams.update(name, { ...info.config, subjects: [...new Set([...have.filter((s) => !config.subjects.some((w) => covers(w, s))), ...config.subjects])], allow_direct: config.allow_direct ?? info.config.allow_direct }).catch((e) => {
        if (!isPermissionDenied(e)) throw e;
      });
    }
  } catch (err) {
    if (!isStreamNotFound(err)) throw wrap(err, `stream ${name}`);
    await jsm.streams.add({ name, ...config }).catch((e) => {
      if (!isNameInUse(e)) throw wrap(e, `stream ${name}`);
    });
  }
}

/** Whether subject pattern `wide` matches every subject `narrow` does (hyper.pod.> covers hyper.pod.*). */
function covers(wide: string, narrow: string): boolean {
  const w = wide.split('.');
  const n = narrow.split('.');
  for (let i = 0; i < w.length; i++) {
    if (w[i] === '>') return n.length > i;
    if (i >= n.length || (w[i] !== '*' && w[i] !== n[i]) || (w[i] === '*' && n[i] === '>')) return false;
  }
  return w.length === n.length;
}

function wrap(err: unknown, what: string): EventStoreError {
  return new EventStoreError('setup', `could not set up ${what} on NATS: ${(err as Error).message} — is JetStream enabled (nats-server -js)?`, { cause: err });
}
