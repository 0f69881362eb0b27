// Snapshots of the folded cluster view in a KV bucket, so a restart folds only the tail; every CHECKPOINT_EVERY events
// one is kept as a checkpoint (the last MAX_CHECKPOINTS), so `hyper state --at` folds from the nearest one before its
// point (reading only the parts it needs) and `hyper audit verify` has older snapshots to compare with. Format 7
// (snapshot-codec.ts) is a header and, per block of pods, a summary and a rows part, each a gzip member; a save writes
// the header and the blocks that changed since the snapshot it replaces into a chunk space of its own (`view.SPACE.N`
// keys, under NATS' payload limit) and points at the unchanged blocks where they already are, so a save and a checkpoint
// cost what changed, not the whole view. A space goes when no kept snapshot points into it.
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { upcastSnapshot, type PodRecord, type ViewSnapshot } from '../../model/cluster-view.js';
import { decodeBlock, summaryPods, decodeParts, decodeSnapshot, encodeParts, encodeSnapshot, LazySnapshot, ROW_KEYS, STORED_FORMAT, TEXT_FORMAT, type BlockMeta, type Header, type LazyStart, type SummaryPart } from './snapshot-codec.js';
import type { StoredSnapshot } from '../../audit/verify.js';
import type { Record_ } from '../../model/record.js';
import { podOfSubject, SNAPSHOT_BUCKET } from '../schemas/subjects.js';

const CHUNK = 512 * 1024;
const MANIFEST = 'view.manifest';
const CHECKPOINTS = 'view.checkpoints';
/** Events between a daemon's snapshots (it waits longer when its last save was slow: see Daemon.snapshot). */
export const SNAPSHOT_EVERY = 5_000;
/** Events between kept checkpoints: every snapshot a daemon saves (each stores only the blocks that changed). */
export const CHECKPOINT_EVERY = 5_000;
/** 2 million events back. */
const MAX_CHECKPOINTS = 400;
/** The most chunk spaces one snapshot reads from: blocks in older ones are written again (bounds a read's gets, and `uses`). */
const MAX_SPACES = 24;

/** Where a stored part lies: its chunk space, and its offset and length in that space's bytes. */
type Place = [string, number, number];

interface Manifest {
  format: number;
  seq: number;
  /** Formats 1-5: the chunks under `view.SEQ.N`; format 7: those of its own space. */
  chunks: number;
  /** The snapshot's stored size (format 7: all its parts, wherever they lie). */
  bytes: number;
  /** Format 7: the space this save wrote (the header and the blocks that changed). */
  space?: string;
  /** Format 7: the header's place, then each block's summary and rows. */
  parts?: Place[];
  blocks?: BlockMeta[];
  /** Format 7: the row keys and view format its blocks were written in (a block is reused only under the same). */
  keys?: string;
  view?: number;
  /** Format 7: every space its parts lie in, with its chunk count. */
  uses?: Record<string, number>;
}
/** A kept snapshot; savedAt: the wall clock when it was written, after every event it folds was stamped. Format 7's own manifest is stored apart (`view.cp.SEQ`). */
export interface Checkpoint extends Manifest { savedAt: number }

/** What a save did: the snapshot's size, what it wrote (the rest was already stored), whether it was saved at all. */
export interface Saved { bytes: number; written: number; saved: boolean }

const cpKey = (seq: number) => `view.cp.${seq}`;
const placeKey = ([space, offset]: Place) => `${space}:${offset}`;
const chunkKeys = (space: string, chunks: number) => Array.from({ length: chunks }, (_, i) => `view.${space}.${i}`);
/** Chunk keys of a manifest that are its alone (formats 1-6: `view.SEQ.N`), or the spaces it uses (format 7). */
const spacesOf = (m: Manifest): Record<string, number> => (m.format === STORED_FORMAT ? (m.uses ?? {}) : { [String(m.seq)]: m.chunks });

export class SnapshotStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<SnapshotStore> {
    // gets answered directly by any replica, in raw bytes (the bucket was made with allow_direct, as every KV bucket on
    // nats-server 2.9): through the stream's API a chunk comes base64 in JSON (measured: 130 of a 400 ms lazy read)
    return new SnapshotStore(await new Kvm(nc).open(SNAPSHOT_BUCKET, { allow_direct: true }));
  }

  /**
   * Writes the new parts first and the manifest last (only over the one it read: of two daemons saving at once, one
   * wins and the other takes its parts back), so a reader never sees half a snapshot; an older snapshot never replaces
   * a newer one. Blocks unchanged since the snapshot replaced are not written again.
   */
  async save(s: ViewSnapshot, o: { /** the log lost events the current one folded: it goes, however far it got */ replace?: boolean } = {}): Promise<Saved> {
    const entry = await this.kv.get(MANIFEST);
    const current = entry?.operation === 'PUT' ? (JSON.parse(entry.string()) as Manifest) : null;
    if (!o.replace && current && current.format === STORED_FORMAT && current.seq >= s.seq) return { bytes: 0, written: 0, saved: false };
    const prev = !o.replace && current?.format === STORED_FORMAT && current.keys === ROW_KEYS && current.view === s.format && current.parts && current.blocks ? current : null;
    const recent = new Set(prev ? Object.keys(prev.uses ?? {}).sort((a, b) => parseInt(b) - parseInt(a)).slice(0, MAX_SPACES - 1) : []);
    const same = (b: number, meta: BlockMeta) => {
      const was = prev?.blocks?.[b];
      return !!was && was.pods === meta.pods && was.first === meta.first && was.last === meta.last && was.maxSeq === meta.maxSeq && recent.has(prev!.parts![1 + 2 * b][0]) && recent.has(prev!.parts![2 + 2 * b][0]);
    };
    const { header, blocks, metas } = encodeParts(s, same);
    const space = `${s.seq}-${randomBytes(4).toString('hex')}`;
    const members: Buffer[] = [];
    let offset = 0;
    const add = (text: string): Place => {
      const m = gzipSync(text, { level: 1 });
      members.push(m);
      offset += m.length;
      return [space, offset - m.length, m.length];
    };
    // laid out header, summaries, then rows: `state --at` reads the first two whole and the rows of a block or two, so
    // its reads touch few chunks
    const head = add(header);
    const summaries = blocks.map((block, b) => (block ? add(block.summary) : prev!.parts![1 + 2 * b]));
    const rows = blocks.map((block, b) => (block ? add(block.rows) : prev!.parts![2 + 2 * b]));
    const parts: Place[] = [head, ...summaries.flatMap((sum, b) => [sum, rows[b]])];
    const data = Buffer.concat(members);
    const chunks = Math.ceil(data.length / CHUNK);
    const keys = chunkKeys(space, chunks);
    await Promise.all(keys.map((k, i) => this.kv.put(k, data.subarray(i * CHUNK, (i + 1) * CHUNK))));
    const uses: Record<string, number> = { [space]: chunks };
    for (const [sp] of parts) if (sp !== space) uses[sp] = prev!.uses![sp];
    const bytes = parts.reduce((n, [, , length]) => n + length, 0);
    const m: Manifest = { format: STORED_FORMAT, seq: s.seq, chunks, bytes, space, parts, blocks: metas, keys: ROW_KEYS, view: s.format, uses };
    try {
      if (entry) await this.kv.update(MANIFEST, JSON.stringify(m), entry.revision);
      else await this.kv.create(MANIFEST, JSON.stringify(m));
    } catch (err) {
      // another save got there first: its snapshot stands, this one's space goes (on any other failure the write may have
      // landed, so the space stays: at worst unused)
      if (!lostRace(err)) throw err;
      await this.purge(keys);
      return { bytes: 0, written: 0, saved: false };
    }
    // the one replaced becomes a checkpoint when the last is CHECKPOINT_EVERY events behind it; what no kept snapshot uses goes
    const replaced = current && !(current.format === STORED_FORMAT && current.space === space) ? current : null;
    const { kept, dropped, keep } = await this.keep(replaced && replaced.seq !== s.seq && !o.replace ? replaced : null);
    const dead: Record<string, number> = {};
    for (const d of [...(replaced && !keep ? [replaced] : []), ...dropped]) Object.assign(dead, spacesOf(d));
    const live = new Set([...Object.keys(uses), ...kept.flatMap((k) => Object.keys(spacesOf(k)))]);
    await this.purge([...Object.entries(dead).filter(([sp]) => !live.has(sp)).flatMap(([sp, n]) => chunkKeys(sp, n)), ...dropped.filter((d) => d.format === STORED_FORMAT).map((d) => cpKey(d.seq))]);
    return { bytes, written: data.length, saved: true };
  }

  /** Adds `replaced` to the checkpoints if the last is CHECKPOINT_EVERY events behind it (over the list it read, again if another save changed it). */
  private async keep(replaced: Manifest | null): Promise<{ kept: Checkpoint[]; dropped: Checkpoint[]; keep: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const e = await this.kv.get(CHECKPOINTS);
      const kept = listOf(e);
      if (!replaced || replaced.seq - (kept.at(-1)?.seq ?? 0) < CHECKPOINT_EVERY) return { kept, dropped: [], keep: false };
      const savedAt = Date.now();
      // format 7's manifest is kept under a key of its own (the list holds where its parts lie: `uses`), older ones inline
      if (replaced.format === STORED_FORMAT) await this.kv.put(cpKey(replaced.seq), JSON.stringify(replaced));
      const item: Checkpoint = replaced.format === STORED_FORMAT ? { format: replaced.format, seq: replaced.seq, chunks: replaced.chunks, bytes: replaced.bytes, uses: replaced.uses, savedAt } : { ...replaced, savedAt };
      const list = [...kept, item];
      const dropped = list.splice(0, Math.max(0, list.length - MAX_CHECKPOINTS));
      try {
        if (e) await this.kv.update(CHECKPOINTS, JSON.stringify(list), e.revision);
        else await this.kv.create(CHECKPOINTS, JSON.stringify(list));
        return { kept: list, dropped, keep: true };
      } catch (err) {
        if (!lostRace(err) || attempt >= 5) throw err;
      }
    }
  }

  private async purge(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.kv.purge(k).catch(() => {})));
  }

  /** The kept checkpoints, oldest first. */
  async checkpoints(): Promise<Checkpoint[]> {
    return listOf(await this.kv.get(CHECKPOINTS));
  }

  /** The newest snapshot at or before a sequence, or (by time) saved at or before it: checkpoints and the current one. */
  async nearest(p: { seq: number } | { at: number }): Promise<ViewSnapshot | null> {
    const best = await this.nearestManifest(p);
    return best ? this.read(best) : null;
  }

  /**
   * The same snapshot for a reader that folds a tail and looks at few pods (`hyper state --at`): from format 7 only its
   * header and the blocks' summaries are read, and a block's rows only when a batch of the tail touches one of its pods.
   */
  async nearestLazy(p: { seq: number } | { at: number }): Promise<LazyStart | ViewSnapshot | null> {
    const best = await this.nearestManifest(p);
    if (!best) return null;
    if (best.format !== STORED_FORMAT) return this.read(best);
    const member = this.members(best);
    const blocks = best.blocks!.length;
    const [header, ...summaries] = await Promise.all([member(0), ...Array.from({ length: blocks }, (_, b) => member(1 + 2 * b))]);
    if (header === null || summaries.some((t) => t === null)) return null;
    const lazy = new LazySnapshot(header, summaries as string[]);
    return {
      snapshot: lazy.snapshot,
      prepare: async (batch, view) => {
        if (lazy.remaining === 0) return;
        const pods: (PodRecord | undefined)[] = [];
        for (const r of batch) {
          const at = podOfSubject(r.subject);
          if (at) pods.push(view.pods.get(at.pod));
        }
        const wanted = lazy.blocksFor(pods);
        const texts = await Promise.all(wanted.map((b) => member(2 + 2 * b)));
        for (const [k, b] of wanted.entries()) {
          if (texts[k] === null) throw new Error(`snapshot at seq ${best.seq}: its block ${b} was removed while it was read`);
          lazy.load(b, texts[k]!);
        }
      },
    };
  }

  /** A format-7 snapshot's parts by index (the header, then each block's summary and rows), each chunk fetched once; null: gone. */
  private members(m: Manifest): (i: number) => Promise<string | null> {
    const chunks = new Map<string, Promise<Uint8Array | null>>();
    const chunk = (key: string) => {
      let got = chunks.get(key);
      if (!got) chunks.set(key, (got = this.kv.get(key).then((e) => (e && e.operation === 'PUT' ? e.value : null))));
      return got;
    };
    return async (i) => {
      const [space, offset, length] = m.parts![i];
      const first = Math.floor(offset / CHUNK);
      const last = Math.floor((offset + length - 1) / CHUNK);
      // asked for together: one round trip's wait, not one per chunk
      const got = await Promise.all(Array.from({ length: last - first + 1 }, (_, k) => chunk(`view.${space}.${first + k}`)));
      if (got.some((c) => c === null)) return null;
      const joined = got.length === 1 ? Buffer.from(got[0]!.buffer, got[0]!.byteOffset, got[0]!.byteLength) : Buffer.concat(got as Uint8Array[]);
      return gunzipSync(joined.subarray(offset - first * CHUNK, offset - first * CHUNK + length)).toString();
    };
  }

  private async nearestManifest(p: { seq: number } | { at: number }): Promise<(Manifest & { savedAt?: number }) | null> {
    const m = await this.manifest();
    const all: (Manifest & { savedAt?: number })[] = [...(await this.checkpoints()), ...(m ? [m] : [])];
    const fits = all.filter((c) => readable(c) && ('seq' in p ? c.seq <= p.seq : c.savedAt !== undefined && c.savedAt <= p.at));
    const best = fits.sort((a, b) => b.seq - a.seq)[0] ?? null;
    return best ? this.whole(best) : null;
  }

  /** A kept checkpoint's whole manifest (format 7's is stored apart), or the manifest itself. */
  private async whole(c: Manifest & { savedAt?: number }): Promise<(Manifest & { savedAt?: number }) | null> {
    if (c.format !== STORED_FORMAT || c.parts) return c;
    const e = await this.kv.get(cpKey(c.seq));
    return e && e.operation === 'PUT' ? { ...(JSON.parse(e.string()) as Manifest), savedAt: c.savedAt } : null;
  }

  /**
   * Every stored snapshot (checkpoints, then the current one) for `hyper audit verify`, each read when the refold reaches
   * it: of format 7 only the blocks no snapshot before it held (the same stored bytes were compared then), so an audit
   * reads what was written, not every checkpoint whole (400 of a 100,000-pod view would not fit in memory).
   */
  async forAudit(label: (seq: number) => string): Promise<StoredSnapshot[]> {
    const m = await this.manifest();
    const compared = new Set<string>();
    return [...(await this.checkpoints()), ...(m ? [m] : [])].filter(readable).map((c) => ({
      source: label(c.seq),
      seq: c.seq,
      load: async () => {
        const w = await this.whole(c);
        if (!w) return null;
        if (w.format !== STORED_FORMAT) {
          const whole = await this.read(w);
          return whole && { snapshot: whole };
        }
        const member = this.members(w);
        const header = await member(0);
        if (header === null) return null;
        const h = JSON.parse(header) as Header;
        const fresh = h.blocks.map((_, b) => b).filter((b) => !compared.has(placeKey(w.parts![2 + 2 * b])));
        const texts = await Promise.all(fresh.map(async (b) => ({ summary: await member(1 + 2 * b), rows: await member(2 + 2 * b) })));
        if (texts.some((t) => t.summary === null || t.rows === null)) return null;
        const pods: PodRecord[] = [];
        const summaries: PodRecord[] = [];
        const ranges: [number, number][] = [];
        for (const [k, b] of fresh.entries()) {
          // the summary parsed once: its specs decode the rows, its columns are what state --at reads
          const summary = JSON.parse(texts[k].summary!) as SummaryPart;
          pods.push(...decodeBlock(h, b, { summary, rows: texts[k].rows! }));
          summaryPods(summary, summaries);
          ranges.push([b * h.blockPods, b * h.blockPods + h.blocks[b].pods]);
          compared.add(placeKey(w.parts![2 + 2 * b]));
        }
        const snapshot = upcastSnapshot({ format: h.view, seq: h.seq, pods, hosts: h.hosts, tenants: h.tenants, invalid: h.invalid });
        return snapshot && { snapshot, part: { ranges, total: h.blocks.reduce((n, bl) => n + bl.pods, 0), summaries } };
      },
    }));
  }

  /** The newest snapshot in this format, or null (none yet, or its chunks were replaced while reading). */
  async load(): Promise<ViewSnapshot | null> {
    const m = await this.manifest();
    return m && readable(m) ? this.read(m) : null;
  }

  private async read(m: Manifest): Promise<ViewSnapshot | null> {
    if (m.format === STORED_FORMAT) {
      const member = this.members(m);
      const texts = await Promise.all(m.parts!.map((_, i) => member(i)));
      if (texts.some((t) => t === null)) return null;
      const [header, ...rest] = texts as string[];
      return upcastSnapshot(decodeParts(header, Array.from({ length: rest.length / 2 }, (_, b) => ({ summary: rest[2 * b], rows: rest[2 * b + 1] }))));
    }
    const got = await Promise.all(chunkKeys(String(m.seq), m.chunks).map((k) => this.kv.get(k)));
    if (got.some((e) => !e || e.operation !== 'PUT')) return null;
    return upcastSnapshot(decodeSnapshot(gunzipSync(Buffer.concat(got.map((e) => e!.value))).toString()));
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

function listOf(e: KvEntry | null): Checkpoint[] {
  return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as Checkpoint[]) : [];
}

/** Formats this build reads: 1-5 (one text) and 7. Format 6 (never released: one header of every pod's summary) is refolded. */
function readable(m: Manifest): boolean {
  return m.format <= TEXT_FORMAT || m.format === STORED_FORMAT;
}

/** A KV write over a revision that is no longer the last (another writer's came first). */
function lostRace(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
