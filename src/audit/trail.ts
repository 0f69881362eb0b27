// The tamper-evident audit trail: the event stream as JSON lines, each message as stored (so an offline replay decodes it
// exactly as a live one does) with its stream sequence, chained by SHA-256 (each line's digest covers the one before
// it), and a last line summing the trail up, signed with the exporter's nkey where it has one. Reading a trail checks
// every link and names the first line that was changed, removed, inserted or moved. Pure but for the hashing.
import { createHash } from 'node:crypto';
import { decodeParsed, decodeRecord } from '../events/store/event-store.js';
import type { Record_ } from '../model/record.js';

export const TRAIL_FORMAT = 1;
/** The digest the first line's `prev` names: a trail of this format that starts here. */
export const GENESIS = sha256(`hyper-audit-trail-v${TRAIL_FORMAT}`);

export interface TrailMessage {
  seq: number;
  subject: string;
  /** The message as stored: its JSON, or (for one that is no JSON at all) its text. */
  data?: unknown;
  raw?: string;
}

export interface TrailSummary {
  format: number;
  stream: string;
  count: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The digest of the last message line: the head of the chain. */
  head: string;
  exportedAt: number;
  exportedBy: string;
  /** Where the export began (--since), as asked. */
  since?: string;
}

export interface TrailSignature { alg: 'ed25519-nkey'; key: string; sig: string }

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The chained digest of one message after `prev`. */
export function digestOf(prev: string, m: TrailMessage): string {
  return sha256(`${prev}\n${JSON.stringify(m.raw !== undefined ? { seq: m.seq, subject: m.subject, raw: m.raw } : { seq: m.seq, subject: m.subject, data: m.data })}`);
}

/** A stored message as a trail message: its JSON kept as it was written, its text where it is none. */
export function trailMessage(seq: number, subject: string, payload: Uint8Array | string): TrailMessage {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  try {
    return { seq, subject, data: JSON.parse(text) };
  } catch {
    return { seq, subject, raw: text };
  }
}

/** Writes lines one message at a time, keeping the chain. */
export class TrailWriter {
  private prev = GENESIS;
  private count = 0;
  private first: number | null = null;
  private last: number | null = null;

  line(m: TrailMessage): string {
    const hash = digestOf(this.prev, m);
    const out = JSON.stringify({ ...m, prev: this.prev, hash });
    this.prev = hash;
    this.count++;
    this.first ??= m.seq;
    this.last = m.seq;
    return out;
  }

  summary(o: { stream: string; exportedAt: number; exportedBy: string; since?: string; sign?: (text: string) => TrailSignature | null }): string {
    const summary: TrailSummary = { format: TRAIL_FORMAT, stream: o.stream, count: this.count, firstSeq: this.first, lastSeq: this.last, head: this.prev, exportedAt: o.exportedAt, exportedBy: o.exportedBy, ...(o.since ? { since: o.since } : {}) };
    const signature = o.sign?.(JSON.stringify(summary)) ?? null;
    return JSON.stringify({ summary, ...(signature ? { signature } : {}) });
  }
}

/** One thing wrong with a trail, at a line (1-based) and, where it has one, a stream sequence. */
export interface TrailProblem { line: number; seq?: number; problem: string }

export interface ReadTrail {
  records: Record_[];
  summary: TrailSummary | null;
  signature: TrailSignature | null;
  problems: TrailProblem[];
}

/**
 * Reads a trail's text and checks it: every line parses, carries its digest, links to the line before, sequences rise,
 * and the summary's count and head match. `verifySignature` checks the summary's signature (absent: not checked).
 */
export function readTrail(text: string, verifySignature?: (s: TrailSignature, text: string) => boolean): ReadTrail {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const records: Record_[] = [];
  const problems: TrailProblem[] = [];
  let prev = GENESIS;
  let lastSeq = 0;
  let count = 0;
  let summary: TrailSummary | null = null;
  let signature: TrailSignature | null = null;
  lines.forEach((text, i) => {
    const line = i + 1;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      problems.push({ line, problem: 'is not JSON (the line was cut or edited)' });
      return;
    }
    if (o.summary) {
      if (summary) problems.push({ line, problem: 'is a second summary line' });
      summary = o.summary as TrailSummary;
      signature = (o.signature as TrailSignature | undefined) ?? null;
      if (line !== lines.length) problems.push({ line, problem: `is the summary, but ${lines.length - line} line(s) follow it (lines were appended after the export)` });
      if (verifySignature && signature && !verifySignature(signature, JSON.stringify(summary))) problems.push({ line, problem: `the summary's signature by ${signature.key} does not verify: the summary was changed` });
      return;
    }
    const m: TrailMessage = { seq: o.seq as number, subject: o.subject as string, ...('raw' in o ? { raw: o.raw as string } : { data: o.data }) };
    const seq = typeof m.seq === 'number' ? m.seq : undefined;
    if (seq === undefined || typeof m.subject !== 'string' || typeof o.hash !== 'string' || typeof o.prev !== 'string') {
      problems.push({ line, seq, problem: 'lacks its seq, subject, prev or hash' });
      return;
    }
    count++;
    if (digestOf(o.prev, m) !== o.hash) problems.push({ line, seq, problem: `was changed: its content does not match its digest ${o.hash.slice(0, 12)}…` });
    else if (o.prev !== prev) problems.push({ line, seq, problem: `does not follow line ${line - 1}${records.length ? ` (seq ${lastSeq})` : ''}: a line before it was removed, inserted, moved or changed` });
    if (seq <= lastSeq) problems.push({ line, seq, problem: `seq ${seq} comes after seq ${lastSeq}: lines were moved or repeated` });
    prev = o.hash;
    lastSeq = Math.max(lastSeq, seq);
    records.push(m.raw !== undefined ? decodeRecord(seq, m.subject, m.raw) : decodeParsed(seq, m.subject, m.data));
  });
  const s = summary as TrailSummary | null;
  if (!s) problems.push({ line: lines.length, problem: 'no summary line at the end: the trail was cut short (or is not a whole export)' });
  else {
    if (s.count !== count) problems.push({ line: lines.length, problem: `the summary counts ${s.count} messages, the trail has ${count}: lines were removed or added` });
    if (s.head !== prev) problems.push({ line: lines.length, problem: "the summary's head does not match the last line's digest: lines at the end were removed or changed" });
  }
  return { records, summary: s, signature, problems };
}
