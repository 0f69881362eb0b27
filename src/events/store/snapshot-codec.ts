// The stored form of a view snapshot. Format 5 keeps each distinct pod spec once however many pods share it, each pod's
// context (and each container's status) as a row of values under one key list, and its recent event ids without the
// pod id they begin with: about a third of format 4's JSON, so `hyper state --at` and a daemon's restart read and parse a third as much. Decoding gives
// back the view snapshot it was made from (in the view's own format, which it records); formats 1-4 are read as they
// were written (plain JSON, upcast by the view). A daemon before 0.8 skips a format-5 snapshot and folds the log.
import { emptyPodContext, type PodContext } from '../../model/pod-context.js';
import type { PodRecord, ViewSnapshot } from '../../model/cluster-view.js';

/** The newest stored format this build writes and reads. */
export const STORED_FORMAT = 5;

/** A pod: state, last sequence, its context's values in `keys` order, the context's other keys (0: none), recent ids (0: none). */
type Row = [string, number, unknown[], Record<string, unknown> | 0, (string | [string])[] | 0];

interface Stored {
  format: 5;
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

export function encodeSnapshot(s: ViewSnapshot): string {
  const keys = BASE_KEYS;
  const specAt = keys.indexOf('spec');
  const containersAt = keys.indexOf('containers');
  const specs: unknown[] = [];
  // pods folded from one request share nothing by identity, so specs are told apart by their text
  const byText = new Map<string, number>();
  const byObject = new Map<unknown, number>();
  const rows: Row[] = s.pods.map((p) => {
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
  const out: Stored = { format: STORED_FORMAT, view: s.format, seq: s.seq, hosts: s.hosts, tenants: s.tenants, invalid: s.invalid, keys, containerKeys: CONTAINER_KEYS, specs, pods: rows };
  return JSON.stringify(out);
}

/** Any stored format, as the view snapshot it holds (format 5 in the view's own format 4; older ones as written). */
export function decodeSnapshot(text: string): ViewSnapshot {
  const raw = JSON.parse(text) as Stored | ViewSnapshot;
  if (raw.format !== STORED_FORMAT) return raw as ViewSnapshot;
  const s = raw as Stored;
  const { keys, specs } = s;
  const specAt = keys.indexOf('spec');
  const containersAt = keys.indexOf('containers');
  const ckeys = s.containerKeys;
  // written by this build's key lists (the usual case): compiled literals; by another's: key by key
  const context = sameKeys(keys, BASE_KEYS) ? contextOf : (values: unknown[]) => fromRow(values, 0, keys);
  const container = sameKeys(ckeys, CONTAINER_KEYS) ? containerOf : (values: unknown[]) => fromRow(values, 0, ckeys);
  const pods = s.pods.map(([state, seq, values, extra, recent]): PodRecord => {
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
  });
  return { format: s.view, seq: s.seq, pods, hosts: s.hosts, tenants: s.tenants, invalid: s.invalid };
}
