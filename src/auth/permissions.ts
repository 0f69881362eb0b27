// What each client role may do on NATS, enforced by nats-server: submit intents, read events and logs through JetStream
// consumers and direct gets, reserve names — never write a pod's, host's or tenant's log, nor change or delete a stream.
// The admin client (the local daemon's client.json) acts for any tenant; a tenant's credentials only for its own, and
// every subject it may touch carries its name, so nats-server keeps tenants apart without trusting our code.
import { AUDIT_VIEW, EXEC_PREFIX, INTENT_PREFIX, LOG_PREFIX, LOG_STREAM, NAME_BUCKET, POD_PREFIX, SESSION_PREFIX, STREAM } from '../events/schemas/subjects.js';

export interface Permissions { publish: { allow: string[]; deny: string[] }; subscribe: { allow: string[] } }

const FACTS = ['hyper.pod.>', 'hyper.host.>', 'hyper.tenant.>', 'hyper.logs.>'];
const API = '$JS.API';

export function adminPermissions(): Permissions {
  const readable = [STREAM, LOG_STREAM, `KV_${NAME_BUCKET}`];
  return {
    publish: {
      allow: [
        `${INTENT_PREFIX}>`,
        `${API}.INFO`,
        `${API}.STREAM.INFO.*`,
        // ordered consumers (hyper events, logs, ps…): created, pulled and deleted on the streams clients may read only
        ...readable.flatMap((s) => [`${API}.CONSUMER.CREATE.${s}`, `${API}.CONSUMER.CREATE.${s}.>`, `${API}.CONSUMER.MSG.NEXT.${s}.*`, `${API}.CONSUMER.DELETE.${s}.*`, `${API}.CONSUMER.INFO.${s}.*`]),
        `${API}.DIRECT.GET.*`,
        `${API}.DIRECT.GET.*.>`,
        `${API}.STREAM.MSG.GET.*`,
        // name reservations (KV compare-and-set), every tenant's
        `$KV.${NAME_BUCKET}.>`,
        // exec sessions into any tenant's pods: asked of the pod's host, then stdin and control in, output out (read only)
        `${EXEC_PREFIX}>`,
        `${SESSION_PREFIX}*.*.in`,
        // hyper audit verify asks every daemon for its folded view (the admin only: it holds every tenant's pods)
        AUDIT_VIEW,
      ],
      deny: FACTS,
    },
    subscribe: { allow: ['_INBOX.>', `${SESSION_PREFIX}*.*.out`] },
  };
}

/**
 * A tenant's: only subjects under its name. Consumers are created with their filter in the request subject
 * (CONSUMER.CREATE.<stream>.<name>.<filter>), so the filter is what the permission matches; no stream info on the shared
 * streams (with a subjects filter it would list every tenant's subjects) and no direct get by sequence (any message).
 */
export function tenantPermissions(tenant: string): Permissions {
  const pods = `${POD_PREFIX}${tenant}.>`;
  const logs = `${LOG_PREFIX}${tenant}.>`;
  return {
    publish: {
      allow: [
        `${INTENT_PREFIX}${tenant}.>`,
        `${API}.INFO`,
        `${API}.CONSUMER.CREATE.${STREAM}.*.${pods}`,
        `${API}.CONSUMER.CREATE.${LOG_STREAM}.*.${logs}`,
        ...[STREAM, LOG_STREAM].flatMap((s) => [`${API}.CONSUMER.MSG.NEXT.${s}.*`, `${API}.CONSUMER.DELETE.${s}.*`, `${API}.CONSUMER.INFO.${s}.*`]),
        `${API}.DIRECT.GET.${STREAM}.${pods}`,
        `${API}.DIRECT.GET.${LOG_STREAM}.${logs}`,
        // its own name reservations: written and read (direct get by subject) under its own key prefix
        `$KV.${NAME_BUCKET}.${tenant}.>`,
        `${API}.DIRECT.GET.KV_${NAME_BUCKET}.$KV.${NAME_BUCKET}.${tenant}.>`,
        // exec sessions into its own pods only (the host checks the pod is the tenant's too)
        `${EXEC_PREFIX}*.${tenant}.>`,
        `${SESSION_PREFIX}${tenant}.*.in`,
      ],
      deny: FACTS,
    },
    subscribe: { allow: ['_INBOX.>', `${SESSION_PREFIX}${tenant}.*.out`] },
  };
}
