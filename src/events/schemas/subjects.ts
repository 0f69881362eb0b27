// Names on the wire: one stream for all events (a total order), one subject per pod, host and tenant, and the KV buckets.
// Since 0.3 a pod's subjects carry its tenant (hyper.pod.<tenant>.<pod>), so nats-server can keep tenants apart; pods
// created before keep the old layout (hyper.pod.<pod>), which stays readable and writable: no history is rewritten.
export const STREAM = 'HYPER_EVENTS';
export const POD_PREFIX = 'hyper.pod.';
export const HOST_PREFIX = 'hyper.host.';
export const TENANT_PREFIX = 'hyper.tenant.';
export const HEARTBEAT_BUCKET = 'hyper-heartbeats';
/**
 * Leases are renewed into two buckets whose leaders are kept on different NATS nodes: losing any one node leaves one of
 * them taking renewals while the other elects (5-12 s here, longer than the default lease), so no host fences for it.
 */
export const HEARTBEAT_BUCKETS = [HEARTBEAT_BUCKET, 'hyper-heartbeats-b'] as const;
export const SNAPSHOT_BUCKET = 'hyper-snapshots';
/** Container output: not events (no fold reads it), kept in its own stream with limits. */
export const LOG_STREAM = 'HYPER_LOGS';
export const LOG_PREFIX = 'hyper.logs.';
export const DEFAULT_TENANT = 'default';

/** Where a pod's messages live: its id and its tenant (null for a pod created before 0.3, which belongs to "default"). */
export interface PodAddress {
  pod: string;
  tenant: string | null;
}

export const tenantOf = (a: { tenant: string | null }) => a.tenant ?? DEFAULT_TENANT;
/** A folded pod's address. */
export const addressOf = (c: { id: string; tenant: string | null }): PodAddress => ({ pod: c.id, tenant: c.tenant });
export const podSubject = (a: PodAddress) => (a.tenant ? `${POD_PREFIX}${a.tenant}.${a.pod}` : `${POD_PREFIX}${a.pod}`);
const podLogPrefix = (a: PodAddress) => `${LOG_PREFIX}${a.tenant ? `${a.tenant}.` : ''}${a.pod}.`;
/** One subject per container and stream, so the last message of each (its offset header) says how far that stream is stored. */
export const logSubject = (a: PodAddress, container: string, stream: 1 | 2) => `${podLogPrefix(a)}${container}.${stream === 2 ? 'err' : 'out'}`;
export const podLogs = (a: PodAddress) => `${podLogPrefix(a)}>`;
export const hostSubject = (hostId: string) => `${HOST_PREFIX}${hostId}`;
export const tenantSubject = (tenant: string) => `${TENANT_PREFIX}${tenant}`;

/**
 * Exec sessions, over core NATS (not streams: a session is a conversation, its record is the exec.* facts): a client asks
 * the host that runs the pod on hyper.exec.<host>.<tenant>.<pod>, then talks on hyper.session.<tenant>.<session>.in and
 * listens on .out. Every subject carries the tenant, so nats-server keeps tenants out of each other's pods and sessions.
 */
export const EXEC_PREFIX = 'hyper.exec.';
export const SESSION_PREFIX = 'hyper.session.';
/** Every daemon answers a request here by writing its folded view to the snapshot bucket (for hyper audit verify). */
export const AUDIT_VIEW = 'hyper.audit.view';
export const execSubject = (host: string, a: PodAddress) => `${EXEC_PREFIX}${host}.${tenantOf(a)}.${a.pod}`;
export const sessionSubject = (tenant: string, session: string, way: 'in' | 'out') => `${SESSION_PREFIX}${tenant}.${session}.${way}`;

/** The pod a pod subject of either layout names, or null for any other subject. */
export function podOfSubject(subject: string): PodAddress | null {
  if (!subject.startsWith(POD_PREFIX)) return null;
  const t = subject.slice(POD_PREFIX.length).split('.');
  if (t.length === 1) return { pod: t[0], tenant: null };
  if (t.length === 2) return { pod: t[1], tenant: t[0] };
  return null;
}

/**
 * Intents are requests until a host accepts them: clients publish to hyper.intent.<tenant>.<pod> (stream HYPER_INTENTS,
 * a subject clients may write), hosts append the accepted fact to the pod's own subject (which only hosts may write).
 */
export const INTENT_STREAM = 'HYPER_INTENTS';
export const INTENT_PREFIX = 'hyper.intent.';
export const intentSubject = (a: { pod: string; tenant: string | null }) => `${INTENT_PREFIX}${tenantOf(a)}.${a.pod}`;
/** The durable consumer every daemon takes intents from (a queue group): each goes to one daemon, again if it dies before acking. */
export const ACCEPT_CONSUMER = 'acceptor';
/** Where it delivers: only hosts may subscribe (clients' subscriptions are limited to their inboxes). */
export const ACCEPT_DELIVER = 'hyper.accept.deliver';
export const ACCEPT_GROUP = 'hyper-acceptors';
/** 0.2's pull durable, replaced at start. */
export const LEGACY_ACCEPT_CONSUMER = 'accept';

/**
 * Pod names are unique per tenant: keys `<tenant>.<name>` (names have no dots), so a tenant's permissions cover its own
 * keys and no other's; the default tenant's are bare names, as before 0.3.
 */
export const NAME_BUCKET = 'hyper-names';
export const nameKey = (tenant: string, name: string) => (tenant === DEFAULT_TENANT ? name : `${tenant}.${name}`);

export function subjectOf(e: { pod?: string; host?: string; tenant?: string; type: string }): string {
  if ('pod' in e && e.pod) return podSubject({ pod: e.pod, tenant: e.tenant ?? null });
  if ('host' in e && e.host) return hostSubject(e.host);
  if (e.type.startsWith('tenant.') && e.tenant) return tenantSubject(e.tenant);
  throw new Error('event names neither a pod, a host nor a tenant');
}
