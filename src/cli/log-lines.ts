// Container output cut into lines for `hyper logs --tail` and `--timestamps`: each stream's partial last line is held until
// its newline arrives, so a line split across chunks is one line; the last N lines are kept in a ring (memory: N lines).
import type { LogChunk } from '../events/store/logs.js';

export interface LogLine { stream: 1 | 2; atMs: number; data: Buffer }

export class LineSplitter {
  private readonly partial = new Map<string, { atMs: number; parts: Buffer[] }>();

  /** The complete lines a chunk ends (each with its newline), in order. */
  *push(c: LogChunk): Generator<LogLine> {
    const key = `${c.container}/${c.stream}`;
    const data = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      const held = this.partial.get(key);
      const piece = data.subarray(start, nl + 1);
      this.partial.delete(key);
      yield { stream: c.stream, atMs: held?.atMs ?? c.atMs, data: held ? Buffer.concat([...held.parts, piece]) : piece };
      start = nl + 1;
    }
    if (start < data.length) {
      const held = this.partial.get(key) ?? { atMs: c.atMs, parts: [] };
      held.parts.push(data.subarray(start));
      this.partial.set(key, held);
    }
  }

  /** The unfinished lines (output that did not end with a newline), oldest first. */
  *rest(): Generator<LogLine> {
    const held = [...this.partial.entries()].sort((a, b) => a[1].atMs - b[1].atMs);
    this.partial.clear();
    for (const [key, h] of held) yield { stream: key.endsWith('/2') ? 2 : 1, atMs: h.atMs, data: Buffer.concat(h.parts) };
  }
}

/** The last `n` of the lines pushed, oldest first. */
export class LineRing {
  private readonly lines: LogLine[] = [];
  private next = 0;
  constructor(private readonly n: number) {}

  push(l: LogLine): void {
    if (this.n <= 0) return;
    if (this.lines.length < this.n) this.lines.push(l);
    else this.lines[this.next] = l;
    this.next = (this.next + 1) % this.n;
  }

  drain(): LogLine[] {
    const out = this.lines.length < this.n ? this.lines.slice() : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)];
    this.lines.length = 0;
    this.next = 0;
    return out;
  }
}

/** docker's `--timestamps` prefix: the RFC 3339 time the line was stored, then a space. */
export const stamp = (atMs: number) => `${new Date(atMs).toISOString()} `;
