// Detach keys: docker's --detach-keys forms, and the escape sequence found in typed bytes (held back, or sent when it was not one).
import { describe, expect, it } from 'vitest';
import { DetachMatcher, parseDetachKeys } from '../../src/cli/detach-keys.js';

describe('parseDetachKeys', () => {
  it('reads docker\'s forms', () => {
    expect(parseDetachKeys('ctrl-p,ctrl-q')).toEqual([0x10, 0x11]);
    expect(parseDetachKeys('ctrl-a,d')).toEqual([1, 100]);
    expect(parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')).toEqual([0, 27, 28, 29, 30, 31]);
  });
  it('refuses what is not a key, naming the flag', () => {
    expect(() => parseDetachKeys('ctrl-1')).toThrow(/--detach-keys.*ctrl-1 is not a control key/);
    expect(() => parseDetachKeys('alt-x')).toThrow(/"alt-x" is neither one character nor ctrl-<key>/);
    expect(() => parseDetachKeys('')).toThrow(/give at least one key/);
  });
});

describe('DetachMatcher', () => {
  const m = () => new DetachMatcher([0x10, 0x11]);
  const push = (x: DetachMatcher, s: number[]) => x.push(Buffer.from(s));
  it('passes ordinary input through', () => {
    expect(push(m(), [104, 105, 13])).toEqual({ data: Buffer.from([104, 105, 13]), stop: false });
  });
  it('detaches on the sequence, sending what came before it and nothing of it', () => {
    expect(push(m(), [97, 0x10, 0x11, 98])).toEqual({ data: Buffer.from([97]), stop: true });
  });
  it('holds a prefix across chunks, and sends it when the next byte is not the rest', () => {
    const x = m();
    expect(push(x, [97, 0x10])).toEqual({ data: Buffer.from([97]), stop: false });
    expect(push(x, [0x11])).toEqual({ data: Buffer.alloc(0), stop: true });
    const y = m();
    expect(push(y, [0x10])).toEqual({ data: Buffer.alloc(0), stop: false });
    expect(push(y, [120])).toEqual({ data: Buffer.from([0x10, 120]), stop: false });
  });
  it('Ctrl-P Ctrl-P Ctrl-Q: the first Ctrl-P is sent, the rest detaches', () => {
    expect(push(m(), [0x10, 0x10, 0x11])).toEqual({ data: Buffer.from([0x10]), stop: true });
  });
  it('a one-key sequence detaches at once', () => {
    expect(new DetachMatcher([0x1d]).push(Buffer.from([1, 0x1d]))).toEqual({ data: Buffer.from([1]), stop: true });
  });
});
