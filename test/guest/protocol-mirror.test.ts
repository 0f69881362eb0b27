// The TypeScript protocol mirrors guest-agent/src/protocol.h number for number, and the decoder only ever throws ProtocolError.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AGENT_ERROR, encodeFields, encodeFrame, FrameReader, MAX_FRAME, MSG, OUTPUT_WINDOW, PROTOCOL_VERSION, ProtocolError, TAG, type Fields } from '../../src/guest/wire.js';
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
    expect(Number(/HYPER_OUTPUT_WINDOW \((\d+)u \* 1024\)/.exec(header)![1]) * 1024).toBe(OUTPUT_WINDOW);
  });

  it('never reuses a number: every protocol-1 number keeps its meaning (retired ones keep their number)', () => {
    // protocol 1 as released in hyper 0.1.0
    const v1Msg = { PING: 1, START_POD: 2, START_CONTAINER: 3, EXEC: 4, SIGNAL: 5, STDIN: 6, RESIZE: 7, STATS: 8, SHUTDOWN: 9, RESEED: 10, WINDOW: 11, OK: 64, ERROR: 65, READY: 96, OUTPUT: 97, EXIT: 98 };
    const v1TagCount = 30; // TAG 1..30
    const msg = enumOf('MSG');
    for (const [name, n] of Object.entries(v1Msg)) expect([name, `RETIRED_${name}`].map((k) => msg[k])).toContain(n);
    for (let n = 1; n <= v1TagCount; n++) expect(Object.values(enumOf('TAG'))).toContain(n);
    for (const e of [enumOf('MSG'), enumOf('TAG'), enumOf('E')]) expect(new Set(Object.values(e)).size).toBe(Object.values(e).length);
  });

  it('has the protocol-2 numbers', () => {
    expect(MSG).toMatchObject({ RESYNC: 12, ACK: 13, RELEASE: 14, RETIRED_WINDOW: 11 });
    expect(TAG).toMatchObject({ OFFSET: 31, STATE: 32, TIME_MS: 33, BOOT_ID: 34, ENTRY: 35, SENT: 36, ACKED: 37, MAIN: 38 });
    expect(PROTOCOL_VERSION).toBe(2);
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

  it('survives resync replies whose entries hold random fields in random order, or random bytes', () => {
    const entryTags = ['PROCESS', 'CONTAINER', 'MAIN', 'PID', 'STATE', 'EXIT_CODE', 'TIME_MS', 'STREAM', 'SENT', 'ACKED', 'DATA'] as const;
    const value = fc.oneof(fc.constantFrom('running', 'exited', 'web'), fc.nat(3), fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 12 }));
    const entry = fc.oneof(
      fc.array(fc.tuple(fc.constantFrom(...entryTags), value), { maxLength: 14 }).map((fs) => Buffer.concat(fs.map(([k, v]) => encodeFields({ [k]: v } as Fields)))),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), (entries) => {
        const [frame] = new FrameReader().push(encodeFrame(MSG.OK, 5, { VERSION: 2, ENTRY: entries }));
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
    const [f] = new FrameReader().push(encodeFrame(MSG.EXIT, 0, { PROCESS: 'web', EXIT_CODE: 143, TIME_MS: 1_700_000_000_000 }));
    expect(decodeAgentMessage(f)).toEqual({ kind: 'exit', id: 0, process: 'web', exitCode: 143, timeMs: 1_700_000_000_000 });
    const [o] = new FrameReader().push(encodeFrame(MSG.OUTPUT, 0, { PROCESS: 'web', STREAM: 2, OFFSET: 4096, DATA: Buffer.from('x') }));
    expect(decodeAgentMessage(o)).toEqual({ kind: 'output', id: 0, process: 'web', stream: 2, offset: 4096, data: Buffer.from('x') });
    const [r] = new FrameReader().push(encodeFrame(MSG.READY, 0, { VERSION: 2, MESSAGE: 'hyper-agent x', BOOT_ID: 'b' }));
    expect(decodeAgentMessage(r)).toEqual({ kind: 'ready', id: 0, version: 2, build: 'hyper-agent x', bootId: 'b' });
    const big = Buffer.alloc(8);
    big.writeUInt32BE(MAX_FRAME + 1, 0);
    expect(() => new FrameReader().push(big)).toThrow(ProtocolError);
  });

  it('decodes stats with CPU time, and a PS reply whose entries are checked field by field', () => {
    const [st] = new FrameReader().push(encodeFrame(MSG.OK, 3, { MEM_TOTAL: 1 << 28, MEM_AVAILABLE: 1 << 27, UPTIME_MS: 5000, PROCESSES: 2, CPU_MS: 900, CPU_TOTAL_MS: 10_000, CPUS: 2 }));
    expect(decodeAgentMessage(st)).toMatchObject({ kind: 'ok', cpuMs: 900, cpuTotalMs: 10_000, cpus: 2, memTotal: 1 << 28 });
    const one = encodeFields({ PID: 25, PPID: 1, UID: 0, CONTAINER: 'web', CPU_MS: 30, RSS: 4096, TIME_MS: 1_700_000_000_000, COMMAND: 'nginx -g daemon off;' });
    const [ps] = new FrameReader().push(encodeFrame(MSG.OK, 4, { TIME_MS: 1_700_000_000_500, PS_ENTRY: [one] }));
    expect(decodeAgentMessage(ps)).toMatchObject({ kind: 'ok', timeMs: 1_700_000_000_500, ps: [{ pid: 25, ppid: 1, uid: 0, container: 'web', cpuMs: 30, rss: 4096, startedAtMs: 1_700_000_000_000, command: 'nginx -g daemon off;' }] });
    const noPid = encodeFields({ PPID: 1, UID: 0, CONTAINER: 'web', CPU_MS: 30, RSS: 4096, TIME_MS: 1, COMMAND: 'x' });
    const [bad] = new FrameReader().push(encodeFrame(MSG.OK, 5, { PS_ENTRY: [noPid] }));
    expect(() => decodeAgentMessage(bad)).toThrow(/malformed ok message from the guest agent: ps\.0\.pid/);
  });

  const streams = (out: [number, number], err: [number, number]) => Buffer.concat([
    encodeFields({ STREAM: 1 }), encodeFields({ SENT: out[0] }), encodeFields({ ACKED: out[1] }),
    encodeFields({ STREAM: 2 }), encodeFields({ SENT: err[0] }), encodeFields({ ACKED: err[1] }),
  ]);
  const resync = (...entries: Buffer[]) => decodeAgentMessage(new FrameReader().push(encodeFrame(MSG.OK, 9, { VERSION: 2, MESSAGE: 'hyper-agent x', BOOT_ID: 'b', ENTRY: entries }))[0]);

  it('decodes a resync reply: SENT and ACKED belong to the STREAM before them', () => {
    const running = Buffer.concat([encodeFields({ PROCESS: 'web', CONTAINER: 'web', MAIN: 1, PID: 42, STATE: 'running' }), streams([10, 4], [3, 3])]);
    const exited = Buffer.concat([encodeFields({ PROCESS: 'job', CONTAINER: 'web', MAIN: 0, PID: 43, STATE: 'exited', EXIT_CODE: 7, TIME_MS: 99 }), streams([0, 0], [5, 1])]);
    expect(resync(running, exited)).toMatchObject({
      kind: 'ok', version: 2, build: 'hyper-agent x', bootId: 'b',
      entries: [
        { process: 'web', container: 'web', main: true, pid: 42, state: 'running', out: { sent: 10, acked: 4 }, err: { sent: 3, acked: 3 } },
        { process: 'job', container: 'web', main: false, pid: 43, state: 'exited', exitCode: 7, exitedAtMs: 99, out: { sent: 0, acked: 0 }, err: { sent: 5, acked: 1 } },
      ],
    });
  });

  it('refuses resync entries that do not add up', () => {
    const base = encodeFields({ PROCESS: 'web', CONTAINER: 'web', MAIN: 1, PID: 42 });
    const bad = {
      'acked beyond sent': Buffer.concat([base, encodeFields({ STATE: 'running' }), streams([1, 2], [0, 0])]),
      'an exit code while running': Buffer.concat([base, encodeFields({ STATE: 'running', EXIT_CODE: 1 }), streams([0, 0], [0, 0])]),
      'exited without a code': Buffer.concat([base, encodeFields({ STATE: 'exited' }), streams([0, 0], [0, 0])]),
      'SENT before any STREAM': Buffer.concat([base, encodeFields({ STATE: 'running', SENT: 1 }), streams([0, 0], [0, 0])]),
      'a stream twice': Buffer.concat([base, encodeFields({ STATE: 'running' }), streams([0, 0], [0, 0]), encodeFields({ STREAM: 1 })]),
      'no stderr': Buffer.concat([base, encodeFields({ STATE: 'running', STREAM: 1, SENT: 0, ACKED: 0 })]),
      'an offset beyond 2^53': Buffer.concat([base, encodeFields({ STATE: 'running' }), streams([0, 0], [0, 0]).fill(0xff, 18, 26)]),
      'a state nobody knows': Buffer.concat([base, encodeFields({ STATE: 'paused' }), streams([0, 0], [0, 0])]),
    };
    for (const [why, entry] of Object.entries(bad)) expect(() => resync(entry), why).toThrow(ProtocolError);
  });
});
