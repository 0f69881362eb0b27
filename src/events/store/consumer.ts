// Opens the consumer a read pulls from, filtered and from a sequence, and says how many messages it has to deliver.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type Consumer } from '@nats-io/jetstream';
import { nuid, type NatsConnection } from '@nats-io/transport-node';

export interface OpenedConsumer {
  consumer: Consumer;
  /** Messages matching the filter from the start sequence when it was made: 0 means there is nothing to read yet. */
  pending: number;
  /** Deletes a named consumer now rather than at its inactivity threshold. */
  cleanup(): void;
}

/**
 * Ordered consumers (they recreate themselves after a reconnect or a gap) for hosts and admins; for a tenant's session
 * (`scoped`) a named ephemeral one, created with its filter in the request subject, which nats-server's permissions can
 * match — an ordered consumer first asks for the stream's info, which may list every tenant's subjects, so tenants may not.
 */
/** A consumer is made in milliseconds when JetStream answers; unanswered, it is asked again (readers retry) sooner than 10 s. */
const OPEN_TIMEOUT_MS = 4_000;

export async function openConsumer(nc: NatsConnection, stream: string, o: { filter?: string; fromSeq?: number; sinceMs?: number; scoped: boolean }): Promise<OpenedConsumer> {
  const start =
    o.sinceMs !== undefined ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(o.sinceMs).toISOString() }
    : o.fromSeq && o.fromSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: o.fromSeq }
    : {};
  const js = jetstream(nc, { timeout: OPEN_TIMEOUT_MS });
  if (!o.scoped) {
    const consumer = await js.consumers.get(stream, { ...(o.filter ? { filter_subjects: o.filter } : {}), ...start });
    return { consumer, pending: (await consumer.info(true)).num_pending, cleanup: () => {} };
  }
  const jsm = await jetstreamManager(nc, { timeout: OPEN_TIMEOUT_MS });
  const name = `hyper_${nuid.next()}`;
  const info = await jsm.consumers.add(stream, { name, ...(o.filter ? { filter_subject: o.filter } : {}), ...start, ack_policy: AckPolicy.None, mem_storage: true, num_replicas: 1, inactive_threshold: 60_000_000_000 });
  return { consumer: await js.consumers.get(stream, name), pending: info.num_pending, cleanup: () => void jsm.consumers.delete(stream, name).catch(() => {}) };
}
