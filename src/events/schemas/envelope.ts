// The envelope every event carries: id (also the JetStream msgID, so retries dedup), type, version, subject entity, time, causation.
import { z } from 'zod';
import { readsVersion } from './versions.js';

/** The version of types that have only ever had one; versions.ts has the others. */
export const EVENT_VERSION = 1;

/** The envelope of an event of `type`; `v` is the version of its type this build reads (older ones arrive upcast). */
export const envelopeOf = (type: string) => ({ ...envelopeShape, v: z.literal(readsVersion(type)) });

export const envelopeShape = {
  /** Unique and deterministic for facts (so a retried append is deduplicated), random for intents. */
  id: z.string().min(1).max(200),
  v: z.literal(EVENT_VERSION),
  /** Milliseconds since the epoch, stamped by the writer at append; the fold reads time only from here. */
  at: z.number().int().nonnegative(),
  /** Who wrote it: `cli:<user>@<machine>`, `host:<hostId>`, `scheduler:<daemonId>` or any other NATS client's name. */
  by: z.string().min(1).max(200),
  causation: z.string().max(200).optional(),
  correlation: z.string().max(200).optional(),
};

export const idToken = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, _ or - (it is a NATS subject token)');

/** A tenant's name: it is a subject token, a KV bucket suffix and a NATS user name, so it is kept to a DNS-label-like form. */
export const tenantName = z
  .string()
  .min(1)
  .max(31)
  .regex(/^[a-z][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes, starting with a letter');
