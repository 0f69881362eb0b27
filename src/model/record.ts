// What the fold consumes: one stored message of the event stream, either a valid event or a record of why it is not one.
import type { HyperEvent, Newer } from '../events/schemas/mod.js';

export interface StoredEvent {
  seq: number;
  subject: string;
  event: HyperEvent;
  /** The message as stored, when the read asked for it (an audit export). */
  raw?: Uint8Array;
}

/** A message in the stream that is not a valid event (any NATS client can publish): skipped live, fatal in strict replay. */
export interface InvalidRecord {
  seq: number;
  subject: string;
  issues: { path: string; message: string }[];
  /** Not invalid but unknown here: a type, or a version of one, that a newer hyper wrote. */
  newer?: Newer;
  raw?: Uint8Array;
}

export type Record_ = ({ ok: true } & StoredEvent) | ({ ok: false } & InvalidRecord);
