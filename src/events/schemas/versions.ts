// Each event type's schema versions: the newest this build reads, the one it writes, and the pure upcasters that turn
// an older version's data into the next, so a log written by any earlier hyper folds under this one.
//
// The rule (README "Schema evolution"): any change to a type's data is a new version of that type, never an edit of
// the old one. A release first learns to read version N+1 (its upcaster from N, and the schema of N+1) while it still
// writes N; only a later release writes N+1. In a rolling upgrade between adjacent releases no daemon therefore meets a
// version it cannot read, and a daemon that does (skipping releases) names the type and version and skips the event.
// A type absent here is at version 1 for reading and writing.

type Data = Record<string, unknown>;

export interface TypeVersions {
  reads: number;
  writes: number;
  /** upcast[n] turns version n's data into version n+1's: pure, total, no I/O. */
  upcast: Record<number, (data: Data) => Data>;
  /** While `writes` < `reads`: this build's data (the shape it reads) as the older version it writes. */
  write?: (data: Data) => Data;
  /**
   * The hyper release from which `reads` is read: once every host of the cluster runs that release or a later one, this
   * build writes `reads` already (no host left would refuse it), before the release that writes it everywhere.
   */
  readFrom?: string;
}

export const EVENT_VERSIONS: Record<string, TypeVersions> = {
  // v2 (read from 0.5; still written as v1): maxVm and reattach always present (v1 left them out before 0.2: no limit
  // beyond the capacity, and drivers that could not re-attach)
  'host.joined': {
    reads: 2,
    writes: 1,
    upcast: { 1: (d) => ({ ...d, maxVm: d.maxVm ?? null, reattach: d.reattach ?? false }) },
    write: ({ maxVm, ...d }) => (maxVm === null ? d : { ...d, maxVm }),
  },
  // v2 (read from 0.8; written as v2 once every host reads it, else v1, with vm.origin before it either way): origin and
  // template, optional (v1 has neither)
  'vm.booted': {
    reads: 2,
    writes: 1,
    upcast: { 1: (d) => d },
    write: ({ origin: _origin, template: _template, ...d }) => d,
    readFrom: '0.8.0',
  },
  // a type new in 0.8: written only once every host reads it (mayWrite)
  'host.usage': { reads: 1, writes: 1, upcast: {}, readFrom: '0.8.0' },
};
export const readsVersion = (type: string): number => EVENT_VERSIONS[type]?.reads ?? 1;
export const writesVersion = (type: string): number => EVENT_VERSIONS[type]?.writes ?? 1;

/** The data of an event this build writes, in the shape of the version it writes (`v`: a version it chose, see versionToWrite). */
export function dataForWrite(type: string, data: Data, v = writesVersion(type)): Data {
  return v >= readsVersion(type) ? data : (EVENT_VERSIONS[type]?.write?.(data) ?? data);
}

/** Orders two hyper versions by major, minor and patch (a pre-release counts as its release); unparsable ones come first. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => {
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [-1, -1, -1];
  };
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** Whether every host of the cluster reads `type` (a type new in a release is written only then: its `readFrom`). */
export function mayWrite(type: string, hostVersions: Iterable<string> | null): boolean {
  const from = EVENT_VERSIONS[type]?.readFrom;
  // a newer version of an older type is written as the old one meanwhile (versionToWrite): only a new type waits
  if (!from || EVENT_VERSIONS[type]!.writes > 1 || EVENT_VERSIONS[type]!.reads > 1) return true;
  if (!hostVersions) return false;
  for (const v of hostVersions) if (compareVersions(v, from) < 0) return false;
  return true;
}

/**
 * The version of `type` to write in a cluster whose hosts run these hyper versions: the newest this build reads when every
 * one of them reads it too (the type's `readFrom`), else the one this build writes (also when they are not known: null).
 * Pure: the versions come from the view.
 */
export function versionToWrite(type: string, hostVersions: Iterable<string> | null): number {
  const t = EVENT_VERSIONS[type];
  if (!t?.readFrom || !hostVersions) return writesVersion(type);
  for (const v of hostVersions) if (compareVersions(v, t.readFrom) < 0) return t.writes;
  return t.reads;
}

export type Upcast = { ok: true; raw: unknown } | { ok: false; newer: { type: string; v: number; reads: number } };

/** Brings a decoded message to the version this build reads (a copy when it changes); a newer version is refused, by name. */
export function upcast(raw: unknown): Upcast {
  if (typeof raw !== 'object' || raw === null) return { ok: true, raw };
  const { type, v } = raw as { type?: unknown; v?: unknown };
  if (typeof type !== 'string' || typeof v !== 'number' || !Number.isInteger(v) || v < 1) return { ok: true, raw };
  const reads = readsVersion(type);
  if (v === reads) return { ok: true, raw };
  if (v > reads) return { ok: false, newer: { type, v, reads } };
  const t = EVENT_VERSIONS[type];
  let data = (raw as { data?: unknown }).data as Data;
  for (let n = v; n < reads; n++) {
    const step = t?.upcast[n];
    if (!step || typeof data !== 'object' || data === null) return { ok: true, raw }; // left for the schema to refuse
    data = step(data);
  }
  return { ok: true, raw: { ...(raw as object), v: reads, data } };
}
