// Idempotent creation of the event stream and KV buckets: safe for every daemon and CLI to call at start.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { EventStoreError } from '../../errors.js';
import { HEARTBEAT_BUCKET, HOST_PREFIX, LOG_PREFIX, LOG_STREAM, NAME_BUCKET, POD_PREFIX, SNAPSHOT_BUCKET, STREAM } from './subjects.js';

export interface StoreOptions {
  /** Stream and bucket replicas: 1 for a single server, 3 for a 3-node NATS cluster. */
  replicas?: number;
  /** Heartbeat TTL in ms: a host whose last heartbeat is older is not offered pods. */
  heartbeatTtlMs?: number;
}

export async function ensureStore(nc: NatsConnection, opts: StoreOptions = {}): Promise<JetStreamManager> {
  const replicas = opts.replicas ?? 1;
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  try {
    await jsm.streams.info(STREAM);
  } catch (err) {
    if (!isNotFound(err)) throw wrap(err, `stream ${STREAM}`);
    try {
      await jsm.streams.add({
        name: STREAM,
        subjects: [`${POD_PREFIX}*`, `${HOST_PREFIX}*`],
        num_replicas: replicas,
        allow_direct: true,
        // dedup window for msgIDs: retries of an append within it never write twice
        duplicate_window: 120_000_000_000,
      });
    } catch (e) {
      // another process created it between our info and add
      if (!/already in use/i.test(String((e as Error).message))) throw wrap(e, `stream ${STREAM}`);
    }
  }
  await ensureStream(jsm, LOG_STREAM, {
    subjects: [`${LOG_PREFIX}*.*`],
    num_replicas: replicas,
    // output is kept a week and at most 1 GiB: logs are for reading back, the event log is the record
    max_age: 7 * 24 * 3600 * 1_000_000_000,
    max_bytes: 1024 ** 3,
  });
  const kvm = new Kvm(nc);
  const ttl = opts.heartbeatTtlMs ?? 30_000;
  await Promise.all([
    kvm.create(HEARTBEAT_BUCKET, { history: 1, ttl, replicas }),
    kvm.create(NAME_BUCKET, { history: 1, replicas }),
    kvm.create(SNAPSHOT_BUCKET, { history: 1, replicas }),
  ]).catch((e) => {
    throw wrap(e, 'KV buckets');
  });
  return jsm;
}

async function ensureStream(jsm: JetStreamManager, name: string, config: Record<string, unknown>): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!isNotFound(err)) throw wrap(err, `stream ${name}`);
    await jsm.streams.add({ name, ...config }).catch((e) => {
      if (!/already in use/i.test(String((e as Error).message))) throw wrap(e, `stream ${name}`);
    });
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; api_error?: { err_code?: number } };
  return e?.api_error?.err_code === 10059 || /not found/i.test(String(e?.message));
}

function wrap(err: unknown, what: string): EventStoreError {
  return new EventStoreError('setup', `could not set up ${what} on NATS: ${(err as Error).message} — is JetStream enabled (nats-server -js)?`, { cause: err });
}
