// Pod names are unique among a tenant's pods that are not deleted: reserved with a KV create (compare-and-set), so two
// clients cannot take one name. The bucket is opened without asking for its stream's info, which tenants may not read.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';
import type { ClusterView } from '../model/cluster-view.js';
import { NAME_BUCKET, nameKey } from '../events/schemas/subjects.js';

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
    // a reservation whose pod never got requested, or is deleted, is stale
    if (cur && (!pod || pod.state === 'deleted')) {
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
