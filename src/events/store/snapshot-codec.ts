// The stored forms of a view snapshot. Format 5 keeps each distinct pod spec once however many pods share it, each pod's
// context (and each container's status) as a row of values under one key list, and its recent event ids without the
// pod id they begin with: about a third of format 4's JSON. Format 7 (what SnapshotStore writes) splits that into
// parts stored as gzip members of their own: a header (hosts, tenants, which blocks there are), then per block of
// BLOCK_PODS pods a summary part (what a `hyper state` answer and the hosts' usage need, and the block's specs) and a
// rows part. A reader that needs the whole view decodes the header and every rows part (the same records as format 5);
// `hyper state --at` decodes the header and summaries, and only the rows of the blocks its tail of events touches
// (LazySnapshot); a save writes only the blocks that changed (BlockMeta). Formats 1-4 are read as they were written
// (plain JSON, upcast by the view). Format 6 (one header of every pod's summary) was never released and is not read. A
// daemon before 0.8 skips a format-5 or -7 snapshot and folds the log.
import { emptyPodContext, type PodContext } from '../../model/pod-context.js';
import type { PodRecord, ViewSnapshot } from '../../model/cluster-view.js';
import type { Record_ } from '../../model/record.js';

/** The newest stored format this build writes (SnapshotStore's parts) and reads. */
export const STORED_FORMAT = 7;
/** The single-text form encodeSnapshot writes (a daemon's view saved for an audit). */
export const TEXT_FORMAT = 5;
/** Pods per block in format 7: a block is what a lazy reader decodes to load one pod, and what a save reuses when unchanged. */
export const BLOCK_PODS = 2_000;

/** A pod: state, last sequence, its context's values in `keys` order, the context's other keys (0: none), recent ids (0: none). */
type Row = [string, number, unknown[], Record<string, unknown> | 0, (string | [string])[] | 0];

/** What both stored forms hold besides their pods. */
interface StoredView {
  /** The view's format of what it holds (its `format` once decoded). */
  view: number;
  seq: number;
  hosts: ViewSnapshot['hosts'];
  tenants: ViewSnapshot['tenants'];
  invalid: number;
  /** The context keys every pod has, in the order rows hold their values. */
  keys: string[];
  /** The same for a container's status (each a row under its name in the context's `containers`). */
  containerKeys: string[];
  specs: unknown[];
}

interface Stored extends StoredView {
  format: typeof TEXT_FORMAT;
  pods: Row[];
}

const BASE_KEYS = Object.keys(emptyPodContext(''));
const BASE = new Set(BASE_KEYS);
/** Every container status has these (ContainerStatus); `lastExit` and any later optional key go with the row's extras. */
const CONTAINER_KEYS = ['state', 'pid', 'exitCode', 'restarts', 'startedAt', 'finishedAt', 'reason'];

/** An object as the values of `keys` (present in every such object), then its other keys (0: none). */
function toRow(o: Record<string, unknown>, keys: readonly string[], known: ReadonlySet<string>): [unknown[], Record<string, unknown> | 0] {
  const values = new Array<unknown>(keys.length);
  for (let i = 0; i < keys.length; i++) values[i] = o[keys[i]];
  let extra: Record<string, unknown> | 0 = 0;
  for (const k in o) if (!known.has(k) && o[k] !== undefined) (extra ||= {})[k] = o[k];
  return [values, extra];
}

function fromRow(values: unknown[], extra: Record<string, unknown> | 0, keys: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) o[keys[i]] = values[i];
  if (extra) Object.assign(o, extra);
  return o;
}
const CONTAINER = new Set(CONTAINER_KEYS);

/**
 * An object literal of `keys` from a row's values, compiled once: built key by key, 125,000 contexts took ~0.9 s (each
 * object walks 22 shape transitions and grows its property store); a literal is allocated in its final shape (~0.15 s).
 * The keys are this build's own and go in as quoted literals.
 */
function rowBuilder(keys: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  if (keys.includes('__proto__')) return (values) => fromRow(values, 0, keys);
  return new Function('v', `return {${keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ')}};`) as (values: unknown[]) => Record<string, unknown>;
}
const sameKeys = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((k, i) => k === b[i]);
const contextOf = rowBuilder(BASE_KEYS);
const containerOf = rowBuilder(CONTAINER_KEYS);

/** Every pod as a format-5 row, each distinct spec once (its index in `specs` in the row). */
function rowsOf(pods: PodRecord[]): { specs: unknown[]; rows: Row[] } {
  const keys = BASE_KEYS;
  const specAt = keys.indexOf('spec');
  const containersAt = keys.indexOf('containers');
  const specs: unknown[] = [];
  // pods folded from one request share nothing by identity, so specs are told apart by their text
  const byText = new Map<string, number>();
  const byObject = new Map<unknown, number>();
  const rows: Row[] = pods.map((p) => {
    const c = p.context as unknown as Record<string, unknown>;
    const [values, extra] = toRow(c, keys, BASE);
    const containers: Record<string, [unknown[], Record<string, unknown> | 0]> = {};
    for (const [name, st] of Object.entries(p.context.containers)) containers[name] = toRow(st as unknown as Record<string, unknown>, CONTAINER_KEYS, CONTAINER);
    values[containersAt] = containers;
    const spec = c.spec;
    if (spec !== null && spec !== undefined) {
      let n = byObject.get(spec);
      if (n === undefined) {
        const text = JSON.stringify(spec);
        n = byText.get(text);
        if (n === undefined) {
          n = specs.length;
          specs.push(spec);
          byText.set(text, n);
        }
        byObject.set(spec, n);
      }
      values[specAt] = n;
    }
    const prefix = `${p.context.id}.`;
    const recent = p.recent ? p.recent.map((id): string | [string] => (id.startsWith(prefix) ? id.slice(prefix.length) : [id])) : 0;
    return [p.state, p.seq, values, extra, recent];
  });
  return { specs, rows };
}

export function encodeSnapshot(s: ViewSnapshot): string {
  const { specs, rows } = rowsOf(s.pods);
  const out: Stored = { format: TEXT_FORMAT, view: s.format, seq: s.seq, hosts: s.hosts, tenants: s.tenants, invalid: s.invalid, keys: BASE_KEYS, containerKeys: CONTAINER_KEYS, specs, pods: rows };
  return JSON.stringify(out);
}

/** Any single-text stored format, as the view snapshot it holds (format 5 in the view's own format 4; older ones as written). */
export function decodeSnapshot(text: string): ViewSnapshot {
  const raw = JSON.parse(text) as Stored | ViewSnapshot;
  if (raw.format !== TEXT_FORMAT) return raw as ViewSnapshot;
  const s = raw as Stored;
  const decode = rowDecoder(s.keys, s.containerKeys, s.specs);
  return { format: s.view, seq: s.seq, pods: s.pods.map(decode), hosts: s.hosts, tenants: s.tenants, invalid: s.invalid };
}

/** Rows written under these key lists, as pod records (specs by index into `specs`). */
function rowDecoder(keys: string[], ckeys: string[], specs: unknown[]): (row: Row) => PodRecord {
  const specAt = keys.indexOf('spec');
  const containersAt = keys.indexOf('containers');
  // written by this build's key lists (the usual case): compiled literals; by another's: key by key
  const context = sameKeys(keys, BASE_KEYS) ? contextOf : (values: unknown[]) => fromRow(values, 0, keys);
  const container = sameKeys(ckeys, CONTAINER_KEYS) ? containerOf : (values: unknown[]) => fromRow(values, 0, ckeys);
  return ([state, seq, values, extra, recent]) => {
    if (typeof values[specAt] === 'number') values[specAt] = specs[values[specAt] as number];
    const rows = values[containersAt] as Record<string, [unknown[], Record<string, unknown> | 0]>;
    const containers: Record<string, unknown> = {};
    for (const name in rows) {
      const st = container(rows[name][0]);
      if (rows[name][1]) Object.assign(st, rows[name][1]);
      containers[name] = st;
    }
    values[containersAt] = containers;
    const c = context(values);
    if (extra) Object.assign(c, extra);
    const rec: PodRecord = { state: state as PodRecord['state'], context: c as unknown as PodContext, seq };
    if (recent) {
      const prefix = `${c.id as string}.`;
      rec.recent = recent.map((r) => (typeof r === 'string' ? prefix + r : r[0]));
    }
    return rec;
  };
}

/**
 * What a pod is without its row, in columns (one entry per pod, in row order; containers flattened, `containers[i]` of
 * them for pod i): enough for `hyper state` (ClusterState's pod fields) and for the host usage the view counts (host,
 * state, spec). Columns, not a small array per pod: 100,000 pods parse in a third of the time. Repeated strings are
 * indexes into the part's `strings` (-1: null), a column whose every value is null is null, and creation times count
 * from the part's `createdBase`: about half the text to inflate and parse.
 */
interface Summary {
  id: string[];
  state: number[];
  seq: number[];
  name: (string | null)[] | null;
  tenant: number[] | null;
  run: number[];
  host: number[];
  reason: (string | null)[] | null;
  createdAt: number[];
  /** Index into the block's specs (-1: none). */
  spec: number[];
  containers: number[];
  containerName: number[];
  containerState: number[];
  exitCode: (number | null)[] | null;
  restarts: number[];
}

/**
 * A block's pods as the snapshot holds them: how many, the first and last id, and the last sequence folded into any of
 * them. The view's pods only ever join at its end, and a pod folded anew gets that event's (higher) sequence, so a block
 * of an earlier snapshot with the same four is the same block, and its parts are reused (SnapshotStore.save).
 */
export interface BlockMeta {
  pods: number;
  first: string;
  last: string;
  maxSeq: number;
}

/** Format 7's header: what the view holds besides pods, and which blocks there are. */
export interface Header extends Omit<StoredView, 'specs'> {
  format: typeof STORED_FORMAT;
  blockPods: number;
  blocks: BlockMeta[];
}

/** A block's summary part: its pods' summaries and the specs they name (by index), each once. */
export interface SummaryPart {
  specs: unknown[];
  strings: string[];
  createdBase: number;
  pods: Summary;
}

/** The keys a format-7 block's rows are written under: blocks written by a build with other keys are not reused. */
export const ROW_KEYS = `${BASE_KEYS.join(',')}|${CONTAINER_KEYS.join(',')}`;

/** The blocks a view's pods fall in, each with what identifies it (BlockMeta). */
export function blocksOf(pods: PodRecord[]): BlockMeta[] {
  const out: BlockMeta[] = [];
  for (let i = 0; i < pods.length; i += BLOCK_PODS) {
    const end = Math.min(pods.length, i + BLOCK_PODS);
    let maxSeq = 0;
    for (let j = i; j < end; j++) if (pods[j].seq > maxSeq) maxSeq = pods[j].seq;
    out.push({ pods: end - i, first: pods[i].context.id, last: pods[end - 1].context.id, maxSeq });
  }
  return out;
}

/**
 * Format 7: the header's text, then for each block its summary part and its rows part (JSON texts), or null for a block
 * `reuse(b)` says an earlier snapshot already holds as it is now.
 */
export function encodeParts(s: ViewSnapshot, reuse: (block: number, meta: BlockMeta) => boolean = () => false): { header: string; blocks: ({ summary: string; rows: string } | null)[]; metas: BlockMeta[] } {
  const metas = blocksOf(s.pods);
  const header: Header = { format: STORED_FORMAT, view: s.format, seq: s.seq, hosts: s.hosts, tenants: s.tenants, invalid: s.invalid, keys: BASE_KEYS, containerKeys: CONTAINER_KEYS, blockPods: BLOCK_PODS, blocks: metas };
  const blocks = metas.map((meta, b) => (reuse(b, meta) ? null : encodeBlock(s.pods.slice(b * BLOCK_PODS, b * BLOCK_PODS + meta.pods))));
  return { header: JSON.stringify(header), blocks, metas };
}

function encodeBlock(pods: PodRecord[]): { summary: string; rows: string } {
  const { specs, rows } = rowsOf(pods);
  const specAt = BASE_KEYS.indexOf('spec');
  const strings: string[] = [];
  const at = new Map<string, number>();
  const str = (v: string | null): number => {
    if (v === null) return -1;
    let i = at.get(v);
    if (i === undefined) at.set(v, (i = strings.push(v) - 1));
    return i;
  };
  const createdBase = pods.length ? Math.min(...pods.map((p) => p.context.createdAt)) : 0;
  const name: (string | null)[] = [];
  const tenant: number[] = [];
  const reason: (string | null)[] = [];
  const exitCode: (number | null)[] = [];
  const sum: Summary = { id: [], state: [], seq: [], name, tenant, run: [], host: [], reason, createdAt: [], spec: [], containers: [], containerName: [], containerState: [], exitCode, restarts: [] };
  for (let i = 0; i < pods.length; i++) {
    const p = pods[i];
    const c = p.context;
    const spec = rows[i][2][specAt];
    sum.id.push(c.id);
    sum.state.push(str(p.state));
    sum.seq.push(p.seq);
    name.push(c.name);
    tenant.push(str(c.tenant));
    sum.run.push(c.run);
    sum.host.push(str(c.host));
    reason.push(c.reason);
    sum.createdAt.push(c.createdAt - createdBase);
    sum.spec.push(typeof spec === 'number' ? spec : -1);
    let n = 0;
    for (const cname in c.containers) {
      const st = c.containers[cname];
      sum.containerName.push(str(cname));
      sum.containerState.push(str(st.state));
      exitCode.push(st.exitCode);
      sum.restarts.push(st.restarts);
      n++;
    }
    sum.containers.push(n);
  }
  if (name.every((v) => v === null)) sum.name = null;
  if (tenant.every((v) => v === -1)) sum.tenant = null;
  if (reason.every((v) => v === null)) sum.reason = null;
  if (exitCode.every((v) => v === null)) sum.exitCode = null;
  const part: SummaryPart = { specs, strings, createdBase, pods: sum };
  return { summary: JSON.stringify(part), rows: JSON.stringify(rows) };
}

/** Format 7 read whole: the header's text and each block's summary and rows texts, as the view snapshot format 5 gives. */
export function decodeParts(header: string, blocks: { summary: string; rows: string }[]): ViewSnapshot {
  const h = JSON.parse(header) as Header;
  if (blocks.length !== h.blocks.length) throw new Error(`snapshot at seq ${h.seq}: ${blocks.length} blocks for ${h.blocks.length}`);
  const pods: PodRecord[] = [];
  for (const [b, block] of blocks.entries()) for (const p of decodeBlock(h, b, block)) pods.push(p);
  return { format: h.view, seq: h.seq, pods, hosts: h.hosts, tenants: h.tenants, invalid: h.invalid };
}

/** One block's pods (its specs live in its summary part, as text or parsed: its rows name them by index). */
export function decodeBlock(h: Header, b: number, block: { summary: string | SummaryPart; rows: string }): PodRecord[] {
  const summary = typeof block.summary === 'string' ? (JSON.parse(block.summary) as SummaryPart) : block.summary;
  const decode = rowDecoder(h.keys, h.containerKeys, summary.specs);
  const rows = JSON.parse(block.rows) as Row[];
  if (rows.length !== h.blocks[b].pods) throw new Error(`snapshot at seq ${h.seq}: block ${b} holds ${rows.length} rows for ${h.blocks[b].pods} pods`);
  return rows.map(decode);
}

/**
 * A snapshot whose pods may be summaries (LazySnapshot, `summaryRow` set): `prepare` loads the rows of the pods a batch
 * of events touches, found in the view being folded from it.
 */
export interface LazyStart {
  snapshot: ViewSnapshot;
  prepare(batch: Record_[], view: { pods: ReadonlyMap<string, PodRecord> }): Promise<void>;
}

/**
 * Format 7 read from its header and blocks' summary parts alone: every pod a record whose context holds only its summary
 * (id, name, tenant, run, host, reason, createdAt, spec, containers' state, exit code and restarts), marked by
 * `summaryRow`, until its block's rows are loaded, when the record becomes, in place, the one a whole read gives (the
 * view refuses to fold an event into a summary). No index by id here: the view folding from it has one (measured: a
 * second map of 104,000 ids cost 65 ms).
 */
export class LazySnapshot {
  readonly snapshot: ViewSnapshot;
  /** How many pods are still summaries. */
  remaining: number;
  private readonly header: Header;
  private readonly specs: unknown[][] = [];

  constructor(header: string, summaries: string[]) {
    const h = (this.header = JSON.parse(header) as Header);
    if (summaries.length !== h.blocks.length) throw new Error(`snapshot at seq ${h.seq}: ${summaries.length} block summaries for ${h.blocks.length}`);
    const pods: PodRecord[] = [];
    for (const text of summaries) {
      const part = JSON.parse(text) as SummaryPart;
      this.specs.push(part.specs);
      summaryPods(part, pods);
    }
    this.remaining = pods.length;
    this.snapshot = { format: h.view, seq: h.seq, pods, hosts: h.hosts, tenants: h.tenants, invalid: h.invalid };
  }

  /** The blocks holding these pods' rows, of those still summaries. */
  blocksFor(pods: Iterable<PodRecord | undefined>): number[] {
    const out = new Set<number>();
    for (const p of pods) if (p?.summaryRow !== undefined) out.add(Math.floor(p.summaryRow / this.header.blockPods));
    return [...out];
  }

  /** Loads one block's rows (its rows part's text): each pod still a summary becomes its whole record, in place. */
  load(block: number, text: string): void {
    const rows = JSON.parse(text) as Row[];
    const decode = rowDecoder(this.header.keys, this.header.containerKeys, this.specs[block]);
    const first = block * this.header.blockPods;
    for (let j = 0; j < rows.length; j++) {
      const rec = this.snapshot.pods[first + j];
      if (rec.summaryRow === undefined) continue;
      const full = decode(rows[j]);
      if (full.context.id !== rec.context.id) throw new Error(`snapshot at seq ${this.snapshot.seq}: block ${block} holds pod ${full.context.id} where pod ${rec.context.id} was expected`);
      rec.state = full.state;
      rec.seq = full.seq;
      rec.context = full.context;
      if (full.recent) rec.recent = full.recent;
      rec.summaryRow = undefined;
      this.remaining--;
    }
  }
}

/**
 * A block's summary part as pod records holding only the summary (their contexts have only the summary's fields: see
 * summaryOf), appended to `out`, each marked with its position there (`summaryRow`).
 */
export function summaryPods(part: SummaryPart | string, out: PodRecord[] = []): PodRecord[] {
  const { specs, strings, createdBase, pods: c } = typeof part === 'string' ? (JSON.parse(part) as SummaryPart) : part;
  const { name, tenant, reason, exitCode } = c;
  for (let i = 0, k = 0; i < c.id.length; i++) {
    const containers: Record<string, { state: string; exitCode: number | null; restarts: number }> = {};
    for (const end = k + c.containers[i]; k < end; k++) containers[strings[c.containerName[k]]] = { state: strings[c.containerState[k]], exitCode: exitCode ? exitCode[k] : null, restarts: c.restarts[k] };
    const context = {
      id: c.id[i], name: name ? name[i] : null, tenant: tenant && tenant[i] >= 0 ? strings[tenant[i]] : null, run: c.run[i], host: c.host[i] >= 0 ? strings[c.host[i]] : null,
      reason: reason ? reason[i] : null, createdAt: createdBase + c.createdAt[i], spec: c.spec[i] >= 0 ? (specs[c.spec[i]] as PodContext['spec']) : null, containers,
    };
    out.push({ state: strings[c.state[i]] as PodRecord['state'], context: context as unknown as PodContext, seq: c.seq[i], summaryRow: out.length });
  }
  return out;
}

/** What a summary holds of a pod (as summaryPods builds it): a whole record cut down to it, to compare the two. */
export function summaryOf(p: PodRecord): unknown {
  const c = p.context;
  const containers: Record<string, unknown> = {};
  for (const n in c.containers) containers[n] = { state: c.containers[n].state, exitCode: c.containers[n].exitCode, restarts: c.containers[n].restarts };
  return { state: p.state, seq: p.seq, context: { id: c.id, name: c.name, tenant: c.tenant, run: c.run, host: c.host, reason: c.reason, createdAt: c.createdAt, spec: c.spec, containers } };
}
