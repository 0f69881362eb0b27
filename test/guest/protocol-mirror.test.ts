// The TypeScript protocol mirrors guest-agent/src/protocol.h number for number, and the decoder only ever throws ProtocolError.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AGENT_ERROR, encodeFrame, FrameReader, MAX_FRAME, MSG, PROTOCOL_VERSION, ProtocolError, TAG } from '../../src/guest/wire.js';
import { decodeAgentMessage } from '../../src/guest/messages.js';

const header = readFileSync(new URL('../../guest-agent/src/protocol.h', import.meta.url), 'utf8');
const enumOf = (prefix: string) => Object.fromEntries([...header.matchAll(new RegExp(`\\b${prefix}_([A-Z_]+) = (\\d+)`, 'g'))].map((m) => [m[1], Number(m[2])]));

describe('protocol mirror', () => {
  it('has the same version, frame limit, message types, tags and error codes as protocol.h', () => {
    expect(Number(/HYPER_PROTOCOL_VERSION (\d+)/.exec(header)![1])).toBe(PROTOCOL_VERSION);
    expect(/HYPER_MAX_FRAME \(1u << (\d+)\)/.exec(header)![1]).toBe(String(Math.log2(MAX_FRAME)));
    expect(enumOf('MSG')).toEqual(MSG);
    expect(enumOf('TAG')).toEqual(TAG);
    expect(enumOf('E')).toEqual(AGENT_ERROR);
  });
});

describe('decoding bytes from a guest', () => {
  it('never throws anything but ProtocolError, whatever the bytes and however they are split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(64), { maxLength: 20 }), (bytes, cuts) => {
        const reader = new FrameReader();
        let off = 0;
        try {
          for (const c of [...cuts, bytes.length]) {
            const chunk = bytes.subarray(off, off + c + 1);
            off += chunk.length;
            for (const f of reader.push(chunk)) {
              try {
                decodeAgentMessage(f);
              } catch (err) {
                if (!(err instanceof ProtocolError)) throw err;
              }
            }
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('also survives well-framed messages with random types and fields', () => {
    const tagNames = Object.keys(TAG) as (keyof typeof TAG)[];
    fc.assert(
      fc.property(fc.nat(255), fc.nat(100), fc.dictionary(fc.constantFrom(...tagNames), fc.oneof(fc.string(), fc.nat(), fc.uint8Array({ maxLength: 20 }))), (type, id, fields) => {
        const [frame] = new FrameReader().push(encodeFrame(type, id, fields as never));
        try {
          decodeAgentMessage(frame);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('decodes what the agent sends', () => {
    const [f] = new FrameReader().push(encodeFrame(MSG.EXIT, 0, { PROCESS: 'web', EXIT_CODE: 143 }));
    expect(decodeAgentMessage(f)).toEqual({ kind: 'exit', id: 0, process: 'web', exitCode: 143 });
    const big = Buffer.alloc(8);
    big.writeUInt32BE(MAX_FRAME + 1, 0);
    expect(() => new FrameReader().push(big)).toThrow(ProtocolError);
  });
});
