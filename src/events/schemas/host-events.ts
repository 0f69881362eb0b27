// Events on a host's subject: a host joining with its capacity, leaving cleanly, or being declared lost (its lease ran out).
import { z } from 'zod';
import { envelopeOf, idToken } from './envelope.js';

function hostEvent<T extends string, D extends z.ZodRawShape>(type: T, data: D) {
  return z.object({ ...envelopeOf(type), type: z.literal(type), host: idToken, data: z.object(data).strict() }).strict();
}

export const Capacity = z.object({ cpus: z.number().int().positive(), memoryMb: z.number().int().positive() }).strict();
export type Capacity = z.infer<typeof Capacity>;

export const hostEventSchemas = [
  // version 2 (versions.ts): maxVm and reattach always present
  hostEvent('host.joined', {
    capacity: Capacity,
    drivers: z.array(z.string().min(1)).min(1),
    /** The daemon process hosting this host; placement ranks daemons, not hosts. */
    daemon: idToken,
    version: z.string().min(1),
    hollow: z.boolean(),
    /** The largest VM its driver can run (null: no limit beyond the capacity; v1 left it out before 0.2): the scheduler places nothing bigger there. */
    maxVm: Capacity.nullable(),
    /** Whether its pods outlive its daemon (the driver re-attaches; v1 left it out before 0.3: false). */
    reattach: z.boolean(),
  }),
  hostEvent('host.left', { reason: z.string().max(4000) }),
  // what its VMs really take (from 0.8, written once every host reads it): each VM's memory by its id, measured (QEMU's
  // PSS: pages shared by clones of one template counted once among them), so capacity counts use, not what VMs were given
  hostEvent('host.usage', {
    memoryMbByVm: z.record(idToken, z.number().int().nonnegative()).refine((m) => Object.keys(m).length <= 100_000, 'at most 100,000 VMs'),
  }),
  // silent past its lease (written by one survivor, OCC on the host's subject), or fenced itself and said so on return;
  // epoch: the incarnation (count of its joins) that was lost, so a loss never applies to a later join
  hostEvent('host.lost', { epoch: z.number().int().positive(), reason: z.string().min(1).max(4000), silentMs: z.number().int().nonnegative() }),
] as const;

export type HostEvent = z.infer<(typeof hostEventSchemas)[number]>;
