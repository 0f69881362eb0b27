// Writes the fuzzer's seed inputs: one well-formed request of each fuzzed type, aimed at the harness's fake processes.
// Each input's first byte picks the chunk size the harness feeds it in (see fuzz_wire.c).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: seeds.mjs CORPUS_DIR');
  process.exit(2);
}
const T = { PROCESS: 2, DATA: 11, SIGNAL: 12, ROWS: 9, COLS: 10, STREAM: 28, OFFSET: 31, BYTES: 29 };
const field = (tag, v) => {
  const value = typeof v === 'number' ? Buffer.from(BigInt(v).toString(16).padStart(16, '0'), 'hex') : Buffer.from(v);
  const head = Buffer.alloc(5);
  head[0] = tag;
  head.writeUInt32BE(value.length, 1);
  return Buffer.concat([head, value]);
};
const frame = (type, id, ...fields) => {
  const body = Buffer.concat(fields);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(body.length + 5, 0);
  head[4] = type;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, body]);
};
const seeds = {
  ping: frame(1, 1),
  stats: frame(8, 2),
  resync: frame(12, 0x80000001),
  'ack-run': frame(13, 3, field(T.PROCESS, 'p-run'), field(T.STREAM, 1), field(T.OFFSET, 500)),
  'ack-done': frame(13, 4, field(T.PROCESS, 'p-done'), field(T.STREAM, 2), field(T.OFFSET, 10)),
  'release-done': frame(14, 5, field(T.PROCESS, 'p-done')),
  'release-run': frame(14, 6, field(T.PROCESS, 'p-run')),
  window: frame(11, 7, field(T.PROCESS, 'p-run'), field(T.BYTES, 100)),
  'signal-done': frame(5, 8, field(T.PROCESS, 'p-done'), field(T.SIGNAL, 15)),
  'stdin-done': frame(6, 9, field(T.PROCESS, 'p-done'), field(T.DATA, 'hi')),
  'resize-done': frame(7, 10, field(T.PROCESS, 'p-done'), field(T.ROWS, 40), field(T.COLS, 100)),
  sequence: Buffer.concat([frame(13, 11, field(T.PROCESS, 'p-run'), field(T.STREAM, 1), field(T.OFFSET, 1000)), frame(12, 12), frame(14, 13, field(T.PROCESS, 'p-done')), frame(12, 14)]),
};
mkdirSync(dir, { recursive: true });
for (const [name, bytes] of Object.entries(seeds)) writeFileSync(join(dir, `seed-${name}`), Buffer.concat([Buffer.from([63]), bytes]));
