// Snapshots of the folded cluster view in a KV bucket (snapshot-codec.ts's format 6: a header and blocks of pod rows, each
// a gzip member, together chunked under NATS' payload limit) so a restart folds only the tail; every CHECKPOINT_EVERY
// events one is kept as a checkpoint (the last MAX_CHECKPOINTS), so `hyper state --at` folds from the nearest one before
// its point (reading only the parts it needs) and `hyper audit verify` has older snapshots to compare with.
import { gunzipSync, gzipSync } from 'node:zlib';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { upcastSnapshot, type PodRecord, type ViewSnapshot } from '../../model/cluster-view.js';
import { decodeParts, decodeSnapshot, encodeParts, encodeSnapshot, LazySnapshot, STORED_FORMAT, TEXT_FORMAT, type LazyStart } from './snapshot-codec.js';
import type { Record_ } from '../../model/record.js';
import { podOfSubject, SNAPSHOT_BUCKET } from '../schemas/subjects.js';

const CHUNK = 512 * 1024;
const MANIFEST = 'view.manifest';
const CHECKPOINTS = 'view.checkpoints';
export const CHECKPOINT_EVERY = 20_000;
const MAX_CHECKPOINTS = 100;

interface Manifest {
  format: number;
  seq: number;
  chunks: number;
  bytes: number;
  /** Format 6: where each gzip member lies in the chunks' bytes, [offset, length]: the header first, then each block. */
  parts?: [number, number][];
}
/** A kept snapshot; savedAt: the wall clock when it was written, after every event it folds was stamped. */
export interface Checkpoint extends Manifest { savedAt: number }

export class SnapshotStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<SnapshotStore> {
    return new SnapshotStore(await new Kvm(nc).open(SNAPSHOT_BUCKET));
  }

  /** Writes chunks first and the manifest last, so a reader never sees half a snapshot; an older snapshot never replaces a newer one. */
  async save(s: ViewSnapshot, o: { /** the log lost events the current one folded: it goes, however far it got */ replace?: boolean } = {}): Promise<{ bytes: number; saved: boolean }> {
    const current = await this.manifest();
    if (!o.replace && current && current.format === STORED_FORMAT && current.seq >= s.seq) return { bytes: 0, saved: false };
    const { header, blocks } = encodeParts(s);
    const members = [header, ...blocks].map((text) => gzipSync(text, { level: 1 }));
    const parts: [number, number][] = [];
    let offset = 0;
    for (const m of members) {
      parts.push([offset, m.length]);
      offset += m.length;
    }
    const data = Buffer.concat(members);
    const chunks = Math.ceil(data.length / CHUNK);
    for (let i = 0; i < chunks; i++) await this.kv.put(`view.${s.seq}.${i}`, data.subarray(i * CHUNK, (i + 1) * CHUNK));
    const m: Manifest = { format: STORED_FORMAT, seq: s.seq, chunks, bytes: data.length, parts };
    await this.kv.put(MANIFEST, JSON.stringify(m));
    // the one replaced becomes a checkpoint when the last is CHECKPOINT_EVERY events behind it; else its chunks go
    const kept = await this.checkpoints();
    const keep = current && current.seq !== s.seq && !o.replace && current.seq - (kept.at(-1)?.seq ?? 0) >= CHECKPOINT_EVERY;
    if (keep) {
      const list = [...kept, { ...current, savedAt: Date.now() }];
      const dropped = list.splice(0, Math.max(0, list.length - MAX_CHECKPOINTS));
      await this.kv.put(CHECKPOINTS, JSON.stringify(list));
      for (const d of dropped) for (let i = 0; i < d.chunks; i++) await this.kv.purge(`view.${d.seq}.${i}`).catch(() => {});
    } else if (current && current.seq !== s.seq) for (let i = 0; i < current.chunks; i++) await this.kv.purge(`view.${current.seq}.${i}`).catch(() => {});
    return { bytes: data.length, saved: true };
  }

  /** The kept checkpoints, oldest first. */
  async checkpoints(): Promise<Checkpoint[]> {
    const e = await this.kv.get(CHECKPOINTS);
    return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as Checkpoint[]) : [];
  }

  /** The newest snapshot at or before a sequence, or (by time) saved at or before it: checkpoints and the current one. */
  async nearest(p: { seq: number } | { at: number }): Promise<ViewSnapshot | null> {
    const best = await this.nearestManifest(p);
    return best ? this.read(best) : null;
  }

  /**
   * The same snapshot for a reader that folds a tail and looks at few pods (`hyper state --at`): from format 6 only its
   * header is read, and a block of pod rows only when a batch of the tail touches one of its pods.
   */
  async nearestLazy(p: { seq: number } | { at: number }): Promise<LazyStart | ViewSnapshot | null> {
    const best = await this.nearestManifest(p);
    if (!best) return null;
    if (best.format !== STORED_FORMAT || !best.parts) return this.read(best);
    const bytes = new Map<number, Uint8Array>();
    const member = async (i: number): Promise<string | null> => {
      const [offset, length] = best.parts![i];
      const first = Math.floor(offset / CHUNK);
      const last = Math.floor((offset + length - 1) / CHUNK);
      // asked for together: one round trip's wait, not one per chunk
      const missing = Array.from({ length: last - first + 1 }, (_, k) => first + k).filter((c) => !bytes.has(c));
      const got = await Promise.all(missing.map((c) => this.kv.get(`view.${best.seq}.${c}`)));
      for (const [k, e] of got.entries()) {
        if (!e || e.operation !== 'PUT') return null;
        bytes.set(missing[k], e.value);
      }
      const joined = Buffer.concat(Array.from({ length: last - first + 1 }, (_, k) => bytes.get(first + k)!));
      return gunzipSync(joined.subarray(offset - first * CHUNK, offset - first * CHUNK + length)).toString();
    };
    const header = await member(0);
    if (header === null) return null;
    const lazy = new LazySnapshot(header);
    return {
      snapshot: lazy.snapshot,
      prepare: async (batch, view) => {
        if (lazy.remaining === 0) return;
        const pods: (PodRecord | undefined)[] = [];
        for (const r of batch) {
          const at = podOfSubject(r.subject);
          if (at) pods.push(view.pods.get(at.pod));
        }
        for (const b of lazy.blocksFor(pods)) {
          const text = await member(1 + b);
          if (text === null) throw new Error(`snapshot at seq ${best.seq}: its block ${b} was replaced while it was read`);
          lazy.load(b, text);
        }
      },
    };
  }

  private async nearestManifest(p: { seq: number } | { at: number }): Promise<(Manifest & { savedAt?: number }) | null> {
    const m = await this.manifest();
    const all: (Manifest & { savedAt?: number })[] = [...(await this.checkpoints()), ...(m ? [m] : [])];
    const fits = all.filter((c) => c.format <= STORED_FORMAT && ('seq' in p ? c.seq <= p.seq : c.savedAt !== undefined && c.savedAt <= p.at));
    return fits.sort((a, b) => b.seq - a.seq)[0] ?? null;
  }

  /** Every stored snapshot (checkpoints, then the current one), each as written. */
  async loadAll(): Promise<ViewSnapshot[]> {
    const m = await this.manifest();
    const out: ViewSnapshot[] = [];
    for (const c of [...(await this.checkpoints()), ...(m ? [m] : [])]) {
      const s = await this.read(c);
      if (s) out.push(s);
    }
    return out;
  }

  /** The newest snapshot in this format, or null (none yet, or its chunks were replaced while reading). */
  async load(): Promise<ViewSnapshot | null> {
    const m = await this.manifest();
    return m ? this.read(m) : null;
  }

  private async read(m: Manifest): Promise<ViewSnapshot | null> {
    if (m.format > STORED_FORMAT) return null;
    const got = await Promise.all(Array.from({ length: m.chunks }, (_, i) => this.kv.get(`view.${m.seq}.${i}`)));
    if (got.some((e) => !e || e.operation !== 'PUT')) return null;
    const data = Buffer.concat(got.map((e) => e!.value));
    if (m.format === STORED_FORMAT && m.parts) {
      const [header, ...blocks] = m.parts.map(([offset, length]) => gunzipSync(data.subarray(offset, offset + length)).toString());
      return upcastSnapshot(decodeParts(header, blocks));
    }
    return upcastSnapshot(decodeSnapshot(gunzipSync(data).toString()));
  }

  /** A snapshot under a key of its own (a daemon's live view for an audit), chunks first, manifest last. */
  async saveAs(key: string, s: ViewSnapshot): Promise<void> {
    const data = gzipSync(encodeSnapshot(s), { level: 1 });
    const chunks = Math.ceil(data.length / CHUNK);
    for (let i = 0; i < chunks; i++) await this.kv.put(`${key}.${s.seq}.${i}`, data.subarray(i * CHUNK, (i + 1) * CHUNK));
    await this.kv.put(`${key}.manifest`, JSON.stringify({ format: TEXT_FORMAT, seq: s.seq, chunks, bytes: data.length }));
  }

  /** The snapshot saved under a key, as written (not upcast: an audit compares what is there), or null. */
  async readAs(key: string): Promise<ViewSnapshot | null> {
    const e = await this.kv.get(`${key}.manifest`);
    if (!e || e.operation !== 'PUT') return null;
    const m = JSON.parse(e.string()) as Manifest;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < m.chunks; i++) {
      const c = await this.kv.get(`${key}.${m.seq}.${i}`);
      if (!c || c.operation !== 'PUT') return null;
      parts.push(c.value);
    }
    return decodeSnapshot(gunzipSync(Buffer.concat(parts)).toString());
  }

  async removeAs(key: string): Promise<void> {
    const e = await this.kv.get(`${key}.manifest`);
    if (!e || e.operation !== 'PUT') return;
    const m = JSON.parse(e.string()) as Manifest;
    for (let i = 0; i < m.chunks; i++) await this.kv.purge(`${key}.${m.seq}.${i}`).catch(() => {});
    await this.kv.purge(`${key}.manifest`).catch(() => {});
  }

  private async manifest(): Promise<Manifest | null> {
    const e = await this.kv.get(MANIFEST);
    return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as Manifest) : null;
  }
}
