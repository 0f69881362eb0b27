// Notices a stream that lost messages it had acknowledged and delivered: after a leader change under load nats-server 2.9
// may reset a replica's clustered state ("last sequence mismatch", then "Resetting stream cluster state"; nats-server #8057,
// fixed upstream in 2026), and a leader elected from that replica hands the lost sequences out again to new messages.
// A consumer positioned past the new end then skips every message written until the stream grows past it.
import type { JetStreamManager } from '@nats-io/jetstream';

/** A message a consumer was given: its stream sequence and its msgID (the Nats-Msg-Id header), if it had one. */
export interface Delivered { seq: number; msgId: string | null }

/**
 * Why the stream no longer holds what was delivered from it, or null when it does. `delivered`: the highest sequence the
 * consumer was given (and the message it was), `consumerAt`: where a durable consumer's delivery stands, if there is one.
 */
export async function rewoundBecause(jsm: JetStreamManager, stream: string, o: { delivered: Delivered | null; consumerAt?: number }): Promise<string | null> {
  return (await rewound(jsm, stream, o))?.why ?? null;
}

/** rewoundBecause(), saying also whether it was the durable consumer's position that is past the stream's end. */
export async function rewound(jsm: JetStreamManager, stream: string, o: { delivered: Delivered | null; consumerAt?: number }): Promise<{ why: string; consumerPastEnd: boolean } | null> {
  const s = (await jsm.streams.info(stream)).state;
  if (o.consumerAt !== undefined && o.consumerAt > s.last_seq) return { why: `its consumer has delivered up to sequence ${o.consumerAt}, but ${stream} now ends at ${s.last_seq}`, consumerPastEnd: true };
  const d = o.delivered;
  // aged out (max_age) is not lost
  if (!d || d.seq < s.first_seq) return null;
  const lost = (why: string) => ({ why, consumerPastEnd: false });
  if (d.seq > s.last_seq) return lost(`sequence ${d.seq} was delivered, but ${stream} now ends at ${s.last_seq}`);
  const m = await jsm.streams.getMessage(stream, { seq: d.seq }).catch(() => null);
  if (!m) return lost(`sequence ${d.seq} was delivered (${d.msgId ?? 'no msgID'}) and ${stream} no longer holds it`);
  const now = m.header?.get('Nats-Msg-Id') || null;
  if (d.msgId && now !== d.msgId) return lost(`sequence ${d.seq} was delivered as ${d.msgId} and now holds ${now ?? 'a message without a msgID'}`);
  return null;
}

/** The advice every log line about it carries. */
export const REWIND_ADVICE = 'nats-server lost messages it had acknowledged (a replica reset its clustered state after a leader change: look for "Resetting stream cluster state" in the NATS nodes\' logs; nats-server #8057)';
