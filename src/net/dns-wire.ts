// The few pieces of the DNS wire format (RFC 1035) the pod-name responder needs: read a query's question, build an
// answer of A records or an error with the question echoed. Anything malformed reads as null, never throws.

export const TYPE_A = 1;
export const CLASS_IN = 1;
export const RCODE = { ok: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;

export interface Question {
  id: number;
  /** The query's flags: opcode and RD are echoed. */
  flags: number;
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  klass: number;
  /** Where the question ends in the message (the answer echoes bytes 12..end). */
  end: number;
}

/** The single question of a standard query, or null for anything else (a response, several questions, compression). */
export function readQuestion(msg: Buffer): Question | null {
  if (msg.length < 17) return null;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || ((flags >> 11) & 0xf) !== 0 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    if (at >= msg.length) return null;
    const len = msg[at];
    if (len === 0) break;
    if (len > 63 || at + 1 + len > msg.length) return null; // compression pointers have no place in a question
    labels.push(msg.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > msg.length) return null;
  return { id, flags, name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at), klass: msg.readUInt16BE(at + 2), end: at + 4 };
}

/** An authoritative answer to the question with these IPv4 addresses (none: NODATA, or the rcode given). */
export function answer(query: Buffer, q: Question, ips: string[], ttl: number, rcode: number = RCODE.ok): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, AA (ours), RA (we recurse for the rest), the rcode
  header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ips.length, 6);
  const records = ips.map((ip) => {
    const r = Buffer.alloc(16);
    r.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    r.writeUInt16BE(TYPE_A, 2);
    r.writeUInt16BE(CLASS_IN, 4);
    r.writeUInt32BE(ttl, 6);
    r.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => (r[12 + i] = Number(o)));
    return r;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...records]);
}

/** An error answer to a message whose question could not be read: its id and the rcode, nothing else. */
export function bareError(query: Buffer, rcode: number): Buffer | null {
  if (query.length < 12) return null;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0080 | rcode, 2);
  return header;
}
