// The trail's hash chain, pure: a written trail reads back whole; a changed, removed, moved or appended line, a cut
// end and a changed summary are each named by line and sequence; a signature verifies only over the summary it signed.
import { describe, expect, it } from 'vitest';
import { nkeys } from '@nats-io/transport-node';
import { readTrail, TrailWriter, trailMessage, type TrailSignature } from '../../src/audit/trail.js';
import { podEvent } from '../../src/events/schemas/mod.js';
import { spec } from '../harness/events.js';

const events = [
  podEvent('pod.requested', 'p1', { spec: spec({ name: 'job' }), start: true }, { id: 'i1', at: 1000, by: 'cli:ana@laptop' }),
  podEvent('pod.scheduled', 'p1', { host: 'a', run: 1, attempt: 0 }, { id: 'f2', at: 1001, by: 'scheduler:a' }),
  podEvent('pod.stop.requested', 'p1', { graceMs: 0 }, { id: 'i3', at: 1002, by: 'cli:ana@laptop' }),
  podEvent('pod.stopped', 'p1', {}, { id: 'f4', at: 1003, by: 'host:a' }),
];
const kp = nkeys.createAccount();
const sign = (text: string): TrailSignature => ({ alg: 'ed25519-nkey', key: kp.getPublicKey(), sig: Buffer.from(kp.sign(new TextEncoder().encode(text))).toString('base64') });
const verify = (s: TrailSignature, text: string) => nkeys.fromPublic(s.key).verify(new TextEncoder().encode(text), Buffer.from(s.sig, 'base64'));

function trail(): string[] {
  const w = new TrailWriter();
  const lines = events.map((e, i) => w.line(trailMessage(i + 1, 'hyper.pod.p1', JSON.stringify(e))));
  lines.push(w.line(trailMessage(5, 'hyper.pod.p1', 'not json at all')));
  lines.push(w.summary({ stream: 'HYPER_EVENTS', exportedAt: 2000, exportedBy: 'cli:root@h', sign }));
  return lines;
}
const problems = (lines: string[]) => readTrail(lines.join('\n') + '\n', verify).problems;

describe('audit trail', () => {
  it('reads back whole: every message decoded as live, a foreign non-JSON one kept as an invalid record', () => {
    const t = readTrail(trail().join('\n') + '\n', verify);
    expect(t.problems).toEqual([]);
    expect(t.records.map((r) => [r.seq, r.ok])).toEqual([[1, true], [2, true], [3, true], [4, true], [5, false]]);
    expect(t.summary).toMatchObject({ count: 5, firstSeq: 1, lastSeq: 5, exportedBy: 'cli:root@h' });
    expect(t.signature?.key).toBe(kp.getPublicKey());
  });

  it('a changed line is named by line and seq', () => {
    const lines = trail();
    lines[2] = lines[2].replace('"graceMs":0', '"graceMs":1');
    expect(problems(lines)).toEqual([{ line: 3, seq: 3, problem: expect.stringMatching(/^was changed: its content does not match its digest/) }]);
  });

  it('a removed line: the next one does not follow, and the summary counts one more', () => {
    const lines = trail();
    lines.splice(1, 1);
    expect(problems(lines)).toEqual([
      { line: 2, seq: 3, problem: 'does not follow line 1 (seq 1): a line before it was removed, inserted, moved or changed' },
      { line: 5, problem: 'the summary counts 5 messages, the trail has 4: lines were removed or added' },
    ]);
  });

  it('swapped lines break the chain and the order', () => {
    const lines = trail();
    [lines[1], lines[2]] = [lines[2], lines[1]];
    const p = problems(lines);
    expect(p[0]).toMatchObject({ line: 2, seq: 3, problem: expect.stringContaining('does not follow line 1') });
    expect(p.some((x) => x.line === 3 && x.problem === 'seq 2 comes after seq 3: lines were moved or repeated')).toBe(true);
  });

  it('a cut trail, lines after the summary, and a changed summary are each caught', () => {
    expect(problems(trail().slice(0, 4)).at(-1)).toMatchObject({ problem: expect.stringContaining('no summary line at the end') });
    const appended = [...trail(), trail()[0]];
    expect(problems(appended)[0]).toMatchObject({ line: 6, problem: expect.stringContaining('lines were appended after the export') });
    const lines = trail();
    lines[5] = lines[5].replace('"exportedAt":2000', '"exportedAt":2001');
    expect(problems(lines)).toEqual([{ line: 6, problem: `the summary's signature by ${kp.getPublicKey()} does not verify: the summary was changed` }]);
  });
});
