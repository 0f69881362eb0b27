// The guest-agent wire format on the host side: numbers mirrored from guest-agent/src/protocol.h (a test compares them),
// frame reassembly and TLV encoding. Every byte from a guest is untrusted: decoding failures are ProtocolErrors, never crashes.
import { HyperError } from '../errors.js';

export const PROTOCOL_VERSION = 2;
export const MAX_FRAME = 1 << 20;
export const FRAME_HEADER = 9;
/** Bytes per (process, stream) the agent reads ahead of the host's acknowledgements. */
export const OUTPUT_WINDOW = 256 * 1024;

export const MSG = {
  PING: 1, START_POD: 2, START_CONTAINER: 3, EXEC: 4, SIGNAL: 5, STDIN: 6, RESIZE: 7, STATS: 8, SHUTDOWN: 9, RESEED: 10,
  /** v1 flow control, retired in v2 (the agent answers E_UNKNOWN); the number stays taken. */
  RETIRED_WINDOW: 11,
  RESYNC: 12, ACK: 13, RELEASE: 14, PS: 15,
  /** A clone restored from a template learns it: fresh entropy (the CRNG reseeded at once), the host's time, a boot id of its own. */
  RESTORED: 16,
  OK: 64, ERROR: 65,
  READY: 96, OUTPUT: 97, EXIT: 98,
} as const;

export const TAG = {
  VERSION: 1, PROCESS: 2, ARG: 3, ENV: 4, CWD: 5, UID: 6, GID: 7, TTY: 8, ROWS: 9, COLS: 10, DATA: 11, SIGNAL: 12, EXIT_CODE: 13,
  PID: 14, HOSTNAME: 15, DNS: 16, ROOTFS_KIND: 17, ROOTFS_SOURCE: 18, ROOTFS_FSTYPE: 19, ERROR: 20, MESSAGE: 21, ERRNO: 22,
  CONTAINER: 23, MEM_TOTAL: 24, MEM_AVAILABLE: 25, UPTIME_MS: 26, PROCESSES: 27, STREAM: 28, BYTES: 29, USER: 30,
  OFFSET: 31, STATE: 32, TIME_MS: 33, BOOT_ID: 34, ENTRY: 35, SENT: 36, ACKED: 37, MAIN: 38, CPU_MS: 39, CPU_TOTAL_MS: 40,
  CPUS: 41, PPID: 42, RSS: 43, COMMAND: 44, PS_ENTRY: 45, BUILTIN: 46,
  ADDRESS: 47, GATEWAY: 48, MTU: 49, HOSTS: 50, SEARCH: 51, MOUNT: 52, MEMORY_MAX: 53, CPU_MAX: 54, FILE: 55, PATH: 56, MODE: 57,
  MAC: 58,
} as const;

export const AGENT_ERROR = { MALFORMED: 1, TOO_BIG: 2, UNKNOWN: 3, MISSING: 4, NOT_FOUND: 5, EXISTS: 6, SYSTEM: 7, STATE: 8 } as const;

/** Bytes from a guest that do not form a valid message. */
export class ProtocolError extends HyperError {
  constructor(message: string) {
    super('protocol', message);
  }
}

export interface Frame { type: number; id: number; body: Buffer }
export interface Field { tag: number; value: Buffer }

export type FieldValue = string | number | bigint | Buffer | Uint8Array;
/** Fields to encode: numbers become 8-byte integers, strings UTF-8; arrays repeat the tag. */
export type Fields = Partial<Record<keyof typeof TAG, FieldValue | FieldValue[] | undefined>>;

/** Encodes TLV fields as a frame body (or as the value of a field that nests one, such as ENTRY). */
export function encodeFields(fields: Fields = {}): Buffer {
  const parts: Buffer[] = [];
  for (const [name, raw] of Object.entries(fields)) {
    if (raw === undefined) continue;
    const tag = TAG[name as keyof typeof TAG];
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      let value: Buffer;
      if (typeof v === 'string') value = Buffer.from(v, 'utf8');
      else if (typeof v === 'number' || typeof v === 'bigint') {
        value = Buffer.alloc(8);
        value.writeBigUInt64BE(BigInt(v));
      } else value = Buffer.from(v);
      const head = Buffer.alloc(5);
      head[0] = tag;
      head.writeUInt32BE(value.length, 1);
      parts.push(head, value);
    }
  }
  return Buffer.concat(parts);
}

export function encodeFrame(type: number, id: number, fields: Fields = {}): Buffer {
  const body = encodeFields(fields);
  const head = Buffer.alloc(FRAME_HEADER);
  head.writeUInt32BE(body.length + 5, 0);
  head[4] = type;
  head.writeUInt32BE(id >>> 0, 5);
  return Buffer.concat([head, body]);
}

export function decodeFields(body: Buffer): Field[] {
  const out: Field[] = [];
  let off = 0;
  while (off < body.length) {
    if (body.length - off < 5) throw new ProtocolError(`truncated field header at byte ${off} of a ${body.length}-byte body`);
    const len = body.readUInt32BE(off + 1);
    if (len > body.length - off - 5) throw new ProtocolError(`field tag ${body[off]} claims ${len} bytes, only ${body.length - off - 5} left`);
    out.push({ tag: body[off], value: body.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}

/** Reassembles frames from a byte stream; refuses frames over MAX_FRAME (a guest must not make the host buffer without bound). */
export class FrameReader {
  private buf = Buffer.alloc(0);

  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const frames: Frame[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len < 5) throw new ProtocolError(`frame length ${len} is below the 5-byte header`);
      if (len > MAX_FRAME) throw new ProtocolError(`frame of ${len} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (this.buf.length < 4 + len) break;
      frames.push({ type: this.buf[4], id: this.buf.readUInt32BE(5), body: this.buf.subarray(FRAME_HEADER, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}
