// Pod names are unique among a tenant's pods that are not deleted: reserved with a KV create (compare-and-set), so two
// clients cannot take one name. The bucket is opened without asking for its stream's info, which tenants may not read.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';
import type { ClusterView } from '../model/cluster-view.js';
import { NAME_BUCKET, addressOf, nameKey } from '../events/schemas/subjects.js';
import type { EventStore } from '../events/store/event-store.js';
import type { PodRecord } from '../model/cluster-view.js';
import { publishIntent } from './intent.js';

async function bucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(NAME_BUCKET, { allow_direct: true });
}

export async function reserveName(nc: NatsConnection, view: ClusterView, tenant: string, name: string, podId: string): Promise<void> {
  const taken = view.livePods(tenant).find((p) => p.context.name === name);
  if (taken) throw new HyperError('name-taken', `the name "${name}" is already used by pod ${taken.context.id} — pick another --name or remove it with: hyper rm ${name}`);
  const kv = await bucket(nc);
  const key = nameKey(tenant, name);
  try {
    await kv.create(key, podId);
    return;
  } catch {
    const cur = await kv.get(key);
    const holder = cur?.operation === 'PUT' ? cur.string() : null;
    const pod = holder ? view.pods.get(holder) : undefined;
    // a reservation whose pod never got requested, is deleted or was renamed since, is stale
    if (cur && (!pod || pod.state === 'deleted' || (pod.context.name !== null && pod.context.name !== name))) {
      await kv.update(key, podId, cur.revision);
      return;
    }
    throw new HyperError('name-taken', `the name "${name}" is already used by pod ${holder} — pick another --name or remove it with: hyper rm ${name}`);
  }
}

export async function releaseName(nc: NatsConnection, tenant: string, name: string, podId: string): Promise<void> {
  const kv = await bucket(nc);
  const key = nameKey(tenant, name);
  const cur = await kv.get(key);
  if (cur?.operation === 'PUT' && cur.string() === podId) await kv.delete(key, { previousSeq: cur.revision }).catch(() => {});
}

/**
 * Renames a pod (hyper rename, docker rename): the new name reserved, the rename submitted as an intent, the old name
 * released once it is accepted. Resolves with the accepted intent's sequence.
 */
export async function renamePod(store: EventStore, nc: NatsConnection, view: ClusterView, tenant: string, pod: PodRecord, name: string, o: { by?: string; quiet?: boolean } = {}): Promise<number> {
  if (pod.context.name === name) return pod.seq;
  await reserveName(nc, view, tenant, name, pod.context.id);
  let accepted;
  try {
    accepted = await publishIntent(store, 'pod.rename.requested', addressOf(pod.context), { name }, o);
  } catch (err) {
    await releaseName(nc, tenant, name, pod.context.id).catch(() => {});
    throw err;
  }
  if (pod.context.name) await releaseName(nc, tenant, pod.context.name, pod.context.id).catch(() => {});
  return accepted.seq;
}
