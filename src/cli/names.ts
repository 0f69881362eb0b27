// Pod names are unique among pods that are not deleted: reserved with a KV create (compare-and-set), so two clients cannot take one name.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';
import type { ClusterView } from '../model/cluster-view.js';
import { NAME_BUCKET } from '../events/store/subjects.js';

async function bucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(NAME_BUCKET);
}

export async function reserveName(nc: NatsConnection, view: ClusterView, name: string, podId: string): Promise<void> {
  const kv = await bucket(nc);
  try {
    await kv.create(name, podId);
    return;
  } catch {
    const cur = await kv.get(name);
    const holder = cur?.operation === 'PUT' ? cur.string() : null;
    const pod = holder ? view.pods.get(holder) : undefined;
    // a reservation whose pod never got requested, or is deleted, is stale
    if (cur && (!pod || pod.state === 'deleted')) {
      await kv.update(name, podId, cur.revision);
      return;
    }
    throw new HyperError('name-taken', `the name "${name}" is already used by pod ${holder} — pick another --name or remove it with: hyper rm ${name}`);
  }
}

export async function releaseName(nc: NatsConnection, name: string, podId: string): Promise<void> {
  const kv = await bucket(nc);
  const cur = await kv.get(name);
  if (cur?.operation === 'PUT' && cur.string() === podId) await kv.delete(name, { previousSeq: cur.revision }).catch(() => {});
}
