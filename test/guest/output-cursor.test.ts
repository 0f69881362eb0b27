// OutputCursor: each byte of a stream is accepted once, overlaps are trimmed, duplicates dropped, gaps refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputCursor } from '../../src/guest/output-cursor.js';
import { ProtocolError } from '../../src/guest/wire.js';

const b = (s: string) => Buffer.from(s);

describe('OutputCursor', () => {
  it('passes new bytes, trims an overlap, drops a duplicate', () => {
    const c = new OutputCursor();
    expect(Buffer.from(c.accept('web', 1, 0, b('hello '))!).toString()).toBe('hello ');
    expect(c.accept('web', 1, 0, b('hello '))).toBeNull();
    expect(Buffer.from(c.accept('web', 1, 3, b('lo world'))!).toString()).toBe('world');
    expect(c.get('web', 1)).toBe(11);
    expect(c.accept('web', 1, 11, b(''))).toBeNull();
    expect(c.get('web', 2)).toBe(0); // streams and processes are apart
    expect(c.get('db', 1)).toBe(0);
  });

  it('starts from a stored offset, and refuses a gap naming the process, stream and offsets', () => {
    const c = new OutputCursor();
    c.set('web', 2, 100);
    expect(c.accept('web', 2, 90, b('0123456789AB'))).toEqual(b('AB'));
    expect(() => c.accept('web', 2, 105, b('x'))).toThrow(ProtocolError);
    expect(() => c.accept('web', 2, 105, b('x'))).toThrow('output of web (stderr) has a gap: a chunk starts at offset 105, but only 102 bytes are stored');
    c.forget('web');
    expect(c.get('web', 2)).toBe(0);
  });

  it('reassembles a stream exactly once from chunks resent from any earlier offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.array(fc.tuple(fc.nat(400), fc.nat(60)), { maxLength: 60 }), (data, sends) => {
        const c = new OutputCursor();
        const got: number[] = [];
        // a sender that may go back to any offset already delivered (a resync) and sends chunks of any size
        for (const [back, size] of [...sends, [0, data.length] as [number, number]]) {
          const from = Math.max(0, c.get('p', 1) - back);
          const chunk = data.subarray(from, Math.min(data.length, from + size + 1));
          const fresh = c.accept('p', 1, from, chunk);
          if (fresh) got.push(...fresh);
        }
        expect(Buffer.from(got)).toEqual(Buffer.from(data));
      }),
    );
  });
});
