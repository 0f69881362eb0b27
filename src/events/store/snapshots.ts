// Snapshots of the folded cluster view in a KV bucket (gzip, chunked under NATS' payload limit) so a restart folds only the tail.
import { gunzipSync, gzipSync } from 'node:zlib';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { SNAPSHOT_FORMAT, upcastSnapshot, type ViewSnapshot } from '../../model/cluster-view.js';
import { SNAPSHOT_BUCKET } from '../schemas/subjects.js';

const CHUNK = 512 * 1024;
const MANIFEST = 'view.manifest';

interface Manifest { format: number; seq: number; chunks: number; bytes: number }

export class SnapshotStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<SnapshotStore> {
    return new SnapshotStore(await new Kvm(nc).open(SNAPSHOT_BUCKET));
  }

  /** Writes chunks first and the manifest last, so a reader never sees half a snapshot; an older snapshot never replaces a newer one. */
  async save(s: ViewSnapshot, o: { /** the log lost events the current one folded: it goes, however far it got */ replace?: boolean } = {}): Promise<{ bytes: number; saved: boolean }> {
    const current = await this.manifest();
    if (!o.replace && current && current.format === s.format && current.seq >= s.seq) return { bytes: 0, saved: false };
    const data = gzipSync(JSON.stringify(s), { level: 1 });
    const chunks = Math.ceil(data.length / CHUNK);
    for (let i = 0; i < chunks; i++) await this.kv.put(`view.${s.seq}.${i}`, data.subarray(i * CHUNK, (i + 1) * CHUNK));
    const m: Manifest = { format: s.format, seq: s.seq, chunks, bytes: data.length };
    await this.kv.put(MANIFEST, JSON.stringify(m));
    if (current && current.seq !== s.seq) for (let i = 0; i < current.chunks; i++) await this.kv.purge(`view.${current.seq}.${i}`).catch(() => {});
    return { bytes: data.length, saved: true };
  }

  /** The newest snapshot in this format, or null (none yet, or its chunks were replaced while reading). */
  async load(): Promise<ViewSnapshot | null> {
    const m = await this.manifest();
    if (!m || m.format > SNAPSHOT_FORMAT) return null;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < m.chunks; i++) {
      const e = await this.kv.get(`view.${m.seq}.${i}`);
      if (!e || e.operation !== 'PUT') return null;
      parts.push(e.value);
    }
    return upcastSnapshot(JSON.parse(gunzipSync(Buffer.concat(parts)).toString()) as ViewSnapshot);
  }

  private async manifest(): Promise<Manifest | null> {
    const e = await this.kv.get(MANIFEST);
    return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as Manifest) : null;
  }
}
