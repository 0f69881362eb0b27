// The agent's C unit tests (guest-agent/tests/handlers_test.c: handlers driven through the dispatch table, ASan + UBSan), run by make check.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../../guest-agent', import.meta.url));

describe('agent unit tests (make check)', () => {
  it('build and pass, every check reported', () => {
    const r = spawnSync('make', ['-s', '-C', dir, 'check'], { encoding: 'utf8', timeout: 120_000 });
    const out = `${r.stdout}${r.stderr}`;
    const notOk = out.split('\n').filter((l) => l.startsWith('not ok'));
    expect(notOk, out).toEqual([]);
    const summary = /# (\d+) passed, (\d+) failed/.exec(out);
    expect(summary, out).not.toBeNull();
    expect(Number(summary![2])).toBe(0);
    expect(Number(summary![1])).toBeGreaterThanOrEqual(50);
    expect(r.status, out).toBe(0);
  });
});
