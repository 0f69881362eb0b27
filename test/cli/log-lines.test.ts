// Pure parts of `hyper logs`: lines split across chunks and streams, the last-N ring, and --since/--until times.
import { describe, expect, it } from 'vitest';
import { LineRing, LineSplitter, stamp } from '../../src/cli/log-lines.js';
import { parseTimeArg } from '../../src/duration.js';

const chunk = (text: string, stream: 1 | 2 = 1, atMs = 1_000, container = 'main') => ({ seq: 0, container, stream, data: Buffer.from(text), atMs });
const text = (ls: Iterable<{ data: Buffer }>) => [...ls].map((l) => l.data.toString());

describe('LineSplitter', () => {
  it('a line split across chunks is one line, timed by the chunk it began in; streams and containers are kept apart', () => {
    const s = new LineSplitter();
    expect(text(s.push(chunk('a\nb', 1, 1)))).toEqual(['a\n']);
    expect(text(s.push(chunk('x\n', 2, 2)))).toEqual(['x\n']);
    expect(text(s.push(chunk('c', 1, 3, 'side')))).toEqual([]);
    const [b] = [...s.push(chunk('b\nd', 1, 4))];
    expect(b.data.toString()).toBe('bb\n');
    expect(b.atMs).toBe(1);
    expect(text(s.rest())).toEqual(['c', 'd']);
    expect(text(s.rest())).toEqual([]);
  });
});

describe('LineRing', () => {
  it('keeps the last n in order, however many pass; n = 0 keeps none', () => {
    const r = new LineRing(3);
    for (let i = 0; i < 10; i++) r.push({ stream: 1, atMs: i, data: Buffer.from(String(i)) });
    expect(text(r.drain())).toEqual(['7', '8', '9']);
    r.push({ stream: 1, atMs: 0, data: Buffer.from('x') });
    expect(text(r.drain())).toEqual(['x']);
    const none = new LineRing(0);
    none.push({ stream: 1, atMs: 0, data: Buffer.from('x') });
    expect(none.drain()).toEqual([]);
  });
  it('stamps lines in RFC 3339', () => expect(stamp(0)).toBe('1970-01-01T00:00:00.000Z '));
});

describe('parseTimeArg', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  it('takes RFC 3339, dates, Unix seconds and durations back from now', () => {
    expect(parseTimeArg('2026-12-02T10:00:00Z', now)).toBe(Date.parse('2026-12-02T10:00:00Z'));
    expect(parseTimeArg('2026-12-01', now)).toBe(Date.parse('2026-12-01'));
    expect(parseTimeArg('1764669600', now)).toBe(1764669600_000);
    expect(parseTimeArg('1764669600.5', now)).toBe(1764669600_500);
    expect(parseTimeArg('10m', now)).toBe(now - 600_000);
    expect(parseTimeArg('2h', now)).toBe(now - 7_200_000);
  });
  it('refuses what is none of them', () => {
    for (const bad of ['yesterday', '', '12', '2026-13-45T99:00:00Z', '10 parsecs']) expect(parseTimeArg(bad, now)).toBeNull();
  });
});
