// The compiled event checks against zod itself: every recorded and synthetic event of a compiled type passes them, and
// over thousands of mutations (keys removed, added or retyped, values out of range, long, empty, null) they never
// accept what zod refuses, nor anything zod would return changed (for what JSON can hold, as replay reads).
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fastValid, FAST_CHECKED, HyperEvent } from '../../src/events/schemas/mod.js';
import { upcast } from '../../src/events/schemas/versions.js';
import { hostJoined, podLifecycle } from '../../bench/lib/dataset.js';

const dir = new URL('../fixtures/', import.meta.url).pathname;
function corpus(): unknown[] {
  const out: unknown[] = [];
  for (const f of readdirSync(`${dir}audit`).filter((x) => x.endsWith('.jsonl'))) {
    for (const line of readFileSync(`${dir}audit/${f}`, 'utf8').split('\n')) {
      if (!line) continue;
      const o = JSON.parse(line);
      if (o.data && typeof o.data === 'object') {
        const u = upcast(o.data);
        if (u.ok) out.push(u.raw);
      }
    }
  }
  out.push(hostJoined('h1', 5), ...podLifecycle('p1', 'h1', 10));
  return out.filter((e) => HyperEvent.safeParse(e).success);
}

// a deterministic generator: the same mutations every run
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
const WEIRD = [null, '', 'x'.repeat(5000), -1, 0, 1.5, 2 ** 60, Number.MAX_SAFE_INTEGER + 2, true, false, [], {}, ['a'], { a: 1 }, 'p1', 'UPPER case', '1', 70000, 'tcp', 'bridge'];

function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

function mutate(e: unknown): unknown {
  const x = structuredClone(e) as Record<string, unknown>;
  const ps = paths(x).filter((p) => p.length > 0 && p[0] !== 'type');
  const p = pick(ps);
  let parent: Record<string | number, unknown> = x;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = p.at(-1)!;
  const r = rand();
  if (r < 0.25) delete parent[key];
  else if (r < 0.35 && typeof parent === 'object') parent[`extra${Math.floor(rand() * 3)}`] = pick(WEIRD);
  else parent[key] = pick(WEIRD);
  return x;
}

describe('compiled event checks', () => {
  const events = corpus();

  it('compile for nearly every type, and pass every valid event of those types', () => {
    expect(FAST_CHECKED.size).toBeGreaterThanOrEqual(35);
    // refinements (refine, superRefine, startsWith) are run as zod runs them, so even the pod spec compiles
    expect(FAST_CHECKED.has('pod.requested')).toBe(true);
    const checked = events.filter((e) => FAST_CHECKED.has((e as { type: string }).type));
    expect(checked.length).toBeGreaterThan(40);
    for (const e of checked) expect(fastValid(e)).toBe(true);
  });

  it('never accept what zod refuses or would change, over 30,000 mutations', () => {
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 30_000; i++) {
      // as replay sees it: what JSON can hold (no undefined, no extra properties on arrays)
      const x = JSON.parse(JSON.stringify(mutate(pick(events))));
      if (!fastValid(x)) continue;
      const z = HyperEvent.safeParse(x);
      if (!z.success) refused++;
      expect(z.success, JSON.stringify(x).slice(0, 300)).toBe(true);
      expect(z.data).toEqual(x);
      accepted++;
    }
    expect(refused).toBe(0);
    // the mutations reach both sides: some still valid (e.g. an optional field dropped), most not
    expect(accepted).toBeGreaterThan(100);
  });
});
