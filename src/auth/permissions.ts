// What a client may do on NATS, enforced by nats-server: submit intents (hyper.intent.>), read events and logs through
// JetStream consumers and direct gets, reserve names — never write a pod's or host's log, nor change or delete a stream.
import { INTENT_PREFIX, LOG_STREAM, NAME_BUCKET, STREAM } from '../events/store/subjects.js';

const readable = [STREAM, LOG_STREAM, `KV_${NAME_BUCKET}`];

export function clientPermissions(): { publish: { allow: string[]; deny: string[] }; subscribe: { allow: string[] } } {
  return {
    publish: {
      allow: [
        `${INTENT_PREFIX}>`,
        '$JS.API.INFO',
        '$JS.API.STREAM.INFO.*',
        // ordered consumers (hyper events, logs, ps…): created, pulled and deleted on the streams clients may read only
        ...readable.flatMap((s) => [`$JS.API.CONSUMER.CREATE.${s}`, `$JS.API.CONSUMER.CREATE.${s}.>`, `$JS.API.CONSUMER.MSG.NEXT.${s}.*`, `$JS.API.CONSUMER.DELETE.${s}.*`, `$JS.API.CONSUMER.INFO.${s}.*`]),
        '$JS.API.DIRECT.GET.*',
        '$JS.API.DIRECT.GET.*.>',
        '$JS.API.STREAM.MSG.GET.*',
        // name reservations (KV compare-and-set)
        `$KV.${NAME_BUCKET}.>`,
      ],
      deny: ['hyper.pod.>', 'hyper.host.>', 'hyper.logs.>'],
    },
    subscribe: { allow: ['_INBOX.>'] },
  };
}
