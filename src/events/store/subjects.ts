// Names on the wire: one stream for all events (a total order), one subject per pod and per host, and the KV buckets.
export const STREAM = 'HYPER_EVENTS';
export const POD_PREFIX = 'hyper.pod.';
export const HOST_PREFIX = 'hyper.host.';
export const HEARTBEAT_BUCKET = 'hyper-heartbeats';
export const NAME_BUCKET = 'hyper-names';
export const SNAPSHOT_BUCKET = 'hyper-snapshots';
/** Container output: not events (no fold reads it), kept in its own stream with limits. */
export const LOG_STREAM = 'HYPER_LOGS';
export const LOG_PREFIX = 'hyper.logs.';
/** One subject per container and stream, so the last message of each (its offset header) says how far that stream is stored. */
export const logSubject = (podId: string, container: string, stream: 1 | 2) => `${LOG_PREFIX}${podId}.${container}.${stream === 2 ? 'err' : 'out'}`;

export const podSubject = (podId: string) => `${POD_PREFIX}${podId}`;

/**
 * Intents are requests until a host accepts them: clients publish to hyper.intent.<tenant>.<pod> (stream HYPER_INTENTS,
 * a subject clients may write), hosts append the accepted fact to the pod's own subject (which only hosts may write).
 */
export const INTENT_STREAM = 'HYPER_INTENTS';
export const INTENT_PREFIX = 'hyper.intent.';
export const DEFAULT_TENANT = 'default';
export const intentSubject = (podId: string, tenant = DEFAULT_TENANT) => `${INTENT_PREFIX}${tenant}.${podId}`;
/** The durable consumer every daemon pulls intents from: each intent goes to one daemon, again if it dies before acking. */
export const ACCEPT_CONSUMER = 'accept';
export const hostSubject = (hostId: string) => `${HOST_PREFIX}${hostId}`;

export function subjectOf(e: { pod?: string; host?: string }): string {
  if ('pod' in e && e.pod) return podSubject(e.pod);
  if ('host' in e && e.host) return hostSubject(e.host);
  throw new Error('event names neither a pod nor a host');
}
