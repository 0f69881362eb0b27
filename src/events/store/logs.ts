// Container output on NATS: hosts publish each chunk to hyper.logs.<pod>.<container> (stream HYPER_LOGS); the CLI reads it back.
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { LOG_PREFIX, LOG_STREAM, logSubject } from './subjects.js';

export interface LogChunk { seq: number; container: string; stream: 1 | 2; data: Uint8Array }

/** Publishes one chunk; the stream header says stdout (1) or stderr (2). Core publish: output must not wait on acks. */
export function publishLog(nc: NatsConnection, podId: string, container: string, stream: 1 | 2, data: Uint8Array): void {
  const h = natsHeaders();
  h.set('Hyper-Stream', String(stream));
  nc.publish(logSubject(podId, container), data, { headers: h });
}

/** Reads a pod's output from the start; with `follow` it keeps going until the signal aborts, otherwise it stops at the end. */
export async function* readLogs(nc: NatsConnection, podId: string, o: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<LogChunk> {
  const filter = `${LOG_PREFIX}${podId}.*`;
  let last = Infinity;
  if (!o.follow) {
    const info = await (await jetstreamManager(nc)).streams.info(LOG_STREAM, { subjects_filter: filter });
    const subjects = info.state.subjects ?? {};
    if (Object.keys(subjects).length === 0) return;
    last = info.state.last_seq;
  }
  const consumer = await jetstream(nc).consumers.get(LOG_STREAM, { filter_subjects: filter });
  const messages = await consumer.consume({ max_messages: 1_000 });
  const stop = () => void messages.close().catch(() => {});
  o.signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const m of messages) {
      yield { seq: m.seq, container: m.subject.slice(LOG_PREFIX.length + podId.length + 1), stream: m.headers?.get('Hyper-Stream') === '2' ? 2 : 1, data: m.data };
      if (m.seq >= last || m.info.pending === 0 && !o.follow) break;
    }
  } finally {
    o.signal?.removeEventListener('abort', stop);
    await messages.close().catch(() => {});
  }
}
