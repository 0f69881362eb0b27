// Docker's multiplexed stream framing: an 8-byte header (stream 1 stdout / 2 stderr, three zero bytes, the length as a
// big-endian uint32) before each chunk; a tty stream is raw bytes.
export function frame(stream: 1 | 2, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}
