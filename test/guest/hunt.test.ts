// ResyncHunter: the stream after a reconnect may start with torn frames; the hunt finds the resync reply and frames from there.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResyncHunter } from '../../src/guest/hunt.js';
import { encodeFrame, FrameReader, MSG } from '../../src/guest/wire.js';

const ID = 0x9abcdef1;

function run(hunter: ResyncHunter, bytes: Buffer, cuts: number[]): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  for (const c of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(off, off + c);
    off += chunk.length;
    if (hunter.hunting) {
      const rest = hunter.push(chunk);
      if (rest) out.push(rest);
    } else out.push(chunk);
  }
  return Buffer.concat(out);
}

describe('ResyncHunter', () => {
  const reply = encodeFrame(MSG.OK, ID, { VERSION: 2, BOOT_ID: 'b' });
  const after = encodeFrame(MSG.OUTPUT, 0, { PROCESS: 'web', STREAM: 1, OFFSET: 0, DATA: Buffer.from('hi') });

  it('skips a torn frame, READY and replies to others, and frames normally from the reply on', () => {
    const torn = encodeFrame(MSG.OUTPUT, 0, { PROCESS: 'web', STREAM: 1, OFFSET: 0, DATA: Buffer.alloc(100, 7) }).subarray(37);
    const noise = Buffer.concat([torn, encodeFrame(MSG.READY, 0, { VERSION: 2 }), encodeFrame(MSG.OK, 3, {})]);
    const h = new ResyncHunter();
    h.expect(ID);
    const rest = run(h, Buffer.concat([noise, reply, after]), [10, 50]);
    expect(h.hunting).toBe(false);
    const frames = new FrameReader().push(rest);
    expect(frames.map((f) => [f.type, f.id])).toEqual([[MSG.OK, ID], [MSG.OUTPUT, 0]]);
  });

  it('does not stop at the id inside a frame that is not a well-formed reply', () => {
    const fake = Buffer.alloc(9);
    fake.writeUInt32BE(5000, 0); // a length whose bytes never arrive as a valid body
    fake[4] = MSG.OUTPUT;
    fake.writeUInt32BE(ID, 5);
    const badBody = encodeFrame(MSG.OK, ID, {});
    badBody.writeUInt32BE(badBody.length - 4 + 3, 0); // claims 3 more bytes...
    const h = new ResyncHunter();
    h.expect(ID);
    const rest = run(h, Buffer.concat([fake, badBody, Buffer.from([1, 0, 0]), reply, after]), []);
    expect(new FrameReader().push(rest).map((f) => f.id)).toEqual([ID, 0]); // ...which are not a field: skipped
  });

  it('finds the reply behind any garbage, however the bytes are split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(40), { maxLength: 30 }), (garbage, cuts) => {
        const h = new ResyncHunter();
        h.expect(0x12345678); // a resync that timed out: its reply ends the hunt too
        h.expect(ID);
        const rest = run(h, Buffer.concat([garbage, reply, after]), cuts);
        fc.pre(!Buffer.from(garbage).includes(Buffer.from([0x12, 0x34, 0x56, 0x78])) && !Buffer.from(garbage).includes(reply.subarray(5, 9)));
        expect(h.hunting).toBe(false);
        expect(new FrameReader().push(rest).map((f) => [f.type, f.id])).toEqual([[MSG.OK, ID], [MSG.OUTPUT, 0]]);
      }),
      { numRuns: 2_000 },
    );
  });
});
