// NATS failures classified by the client's error classes and the server's JetStream codes, never by message text.
import { errors } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
// the client exports these two classes only from its internal entry point
import { jserrors } from '@nats-io/jetstream/internal';

const { JetStreamNotEnabled, StreamNotFoundError } = jserrors;

/** JetStream API error codes this code base acts on (nats-server's errors.json). */
export const JS = {
  /** expect.lastSubjectSequence did not hold: someone else appended first. */
  wrongLastSequence: 10071,
  streamNotFound: 10059,
  streamNameInUse: 10058,
  noMessageFound: 10037,
} as const;

export function jsCode(err: unknown): number | null {
  return err instanceof JetStreamApiError ? err.code : null;
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof StreamNotFoundError || jsCode(err) === JS.streamNotFound;
}

/** nats-server refused an operation these credentials may not do (subject permissions). */
export function isPermissionDenied(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof errors.PermissionViolationError) return true;
  }
  return false;
}

/** nats-server refused the credentials (none given where they are required, a wrong one, or a revoked one). */
export function isAuthFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError) return true;
  }
  return false;
}

export function isNameInUse(err: unknown): boolean {
  return jsCode(err) === JS.streamNameInUse;
}

/**
 * Failures that go away by themselves: a timeout, no responders (JetStream not ready, a leader election), JetStream
 * reported "not enabled" during a failover, a 503 from the API, a connection that is reconnecting. A closed connection
 * or a refused request (permissions, validation, a wrong sequence) is not transient.
 */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof errors.TimeoutError || e instanceof errors.NoRespondersError || e instanceof errors.ConnectionError || e instanceof JetStreamNotEnabled) return true;
    if (e instanceof errors.RequestError && e.isNoResponders()) return true;
    if (e instanceof JetStreamApiError) return e.status === 503;
    if (e instanceof errors.ClosedConnectionError || e instanceof errors.PermissionViolationError) return false;
  }
  return false;
}
