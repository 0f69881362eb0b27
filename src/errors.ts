// The error tree: one base class with a stable `code`, one subclass per domain; messages say what failed, on what, why, and what to try.
export class HyperError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A pod spec, flag or event payload failed validation; `issues` lists `path: reason` pairs. */
export class ValidationError extends HyperError {
  readonly issues: { path: string; message: string }[];
  constructor(what: string, issues: { path: string; message: string }[]) {
    const lines = issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n');
    super('invalid', `invalid ${what}:\n${lines}`);
    this.issues = issues;
  }
}

/** Appending to the event store failed, or a replayed log is unusable. */
export class EventStoreError extends HyperError {}

/** The stream no longer holds what a read was given (NATS lost acknowledged messages): what was folded from it is to be read again. */
export class StreamRewoundError extends EventStoreError {
  constructor(readonly why: string) {
    super('rewound', `the event stream lost events this read had been given: ${why}`);
  }
}

/** Someone else appended to the pod's subject first (JetStream API error 10071): catch up and re-decide. */
export class ConflictError extends EventStoreError {
  constructor(subject: string, expected: number, options?: { cause?: unknown }) {
    super('conflict', `append to ${subject} lost the race: expected last sequence ${expected}, another writer appended first`, options);
  }
}

/** A recorded event log cannot be folded: names the sequence and the reason. */
export class ReplayError extends EventStoreError {
  readonly seq: number;
  constructor(seq: number, reason: string, options?: { cause?: unknown }) {
    super('replay', `event log is corrupt at sequence ${seq}: ${reason}`, options);
    this.seq = seq;
  }
}

/** A hypervisor driver failed; the message carries the backend's own output where there is some. */
export class DriverError extends HyperError {}

/** Pulling, loading, converting or finding an image failed; the message carries the tool's own words. */
export class ImageError extends HyperError {}

/** NATS could not be reached or started. */
export class ConnectionError extends HyperError {}

/** The user named a pod that does not exist (or a prefix that matches several). */
export class NotFoundError extends HyperError {}
