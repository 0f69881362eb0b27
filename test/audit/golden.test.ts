// Recorded logs (trails exported from real runs by test/fixtures/audit/record.sh): restarts exhausted, a stop and a
// removal (hollow), a host loss with the pod placed elsewhere (two hollow daemons), an OOM kill (QEMU). Each trail
// verifies, and history, why and state --at (halfway and at the end) give the golden answers
// (UPDATE_GOLDEN=1 rewrites them).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podHistory, renderHistory } from '../../src/audit/history.js';
import { clusterState, foldTo, renderState } from '../../src/audit/state.js';
import { readTrail } from '../../src/audit/trail.js';
import { explain } from '../../src/audit/why.js';
import { addressOf, podSubject } from '../../src/events/schemas/subjects.js';

const dir = new URL('../fixtures/audit/', import.meta.url).pathname;
const trails = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();

async function answers(file: string): Promise<string> {
  const t = readTrail(readFileSync(join(dir, file), 'utf8'));
  expect(t.problems).toEqual([]);
  const { view } = await foldTo([t.records], { seq: Number.MAX_SAFE_INTEGER });
  const out: string[] = [];
  for (const p of [...view.pods.values()].sort((a, b) => a.context.createdAt - b.context.createdAt)) {
    const subject = podSubject(addressOf(p.context));
    const h = podHistory(t.records.filter((r) => r.subject === subject), p.context.id);
    out.push(`$ hyper history ${p.context.name}`, renderHistory(h), `$ hyper why ${p.context.name}`, explain(h, Math.max(...h.entries.map((e) => e.at))));
  }
  const last = t.records.at(-1)!.seq;
  for (const seq of [Math.ceil(last / 2), last]) {
    const { view: v, at } = await foldTo([t.records], { seq });
    out.push(`$ hyper state --seq ${seq}`, renderState(clusterState(v, at)));
  }
  return out.join('\n') + '\n';
}

describe('audit answers from recorded logs', () => {
  it('has the fixtures: restarts, OOM, host loss, stop, removal', () => {
    expect(trails).toEqual(['host-loss.jsonl', 'lifecycle.jsonl', 'oom.jsonl']);
  });

  for (const file of trails) {
    it(`${file}: history, why and state --at match the golden file`, async () => {
      const got = await answers(file);
      const golden = join(dir, file.replace(/\.jsonl$/, '.golden.txt'));
      if (process.env.UPDATE_GOLDEN || !existsSync(golden)) writeFileSync(golden, got);
      expect(got).toBe(readFileSync(golden, 'utf8'));
    });
  }

  it('the answers say what happened', async () => {
    const text = (f: string) => readFileSync(join(dir, f.replace(/\.jsonl$/, '.golden.txt')), 'utf8');
    expect(text('lifecycle.jsonl')).toMatch(/job: failed: container main exited 3; restart policy on-failure:2 exhausted after 2 restarts at \S+ on host a; the pod was requested by cli:\S+ at/);
    expect(text('lifecycle.jsonl')).toMatch(/web: stopped at .*; stop requested \(grace 10 s\) by cli:/);
    expect(text('lifecycle.jsonl')).toMatch(/gone.*now deleted/);
    expect(text('host-loss.jsonl')).toMatch(/run 2\n.*pending .*host a lost at \S+: no lease renewal/);
    expect(text('host-loss.jsonl')).toMatch(/keeper: running on host b/);
    expect(text('oom.jsonl')).toMatch(/container hog exited 137 \(OOM killed\)/);
  });
});
