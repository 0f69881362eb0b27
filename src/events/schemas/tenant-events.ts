// Events on a tenant's subject: an admin added it (with the public nkey its clients sign in with and its limits), or removed it.
import { z } from 'zod';
import { envelopeOf, tenantName } from './envelope.js';

function tenantEvent<T extends string, D extends z.ZodRawShape>(type: T, data: D) {
  return z.object({ ...envelopeOf(type), type: z.literal(type), tenant: tenantName, data: z.object(data).strict() }).strict();
}

/** What a tenant may ask for; absent fields are unlimited (the host's own limits still apply). */
export const TenantPolicy = z
  .object({
    /** The largest VM one pod may have. */
    maxCpus: z.number().int().positive().max(64).optional(),
    maxMemoryMb: z.number().int().min(64).max(262144).optional(),
    /** Registries its images may come from (as in a reference: docker.io, registry.example:5000); absent: any. */
    registries: z.array(z.string().min(1).max(253)).max(100).optional(),
    /** Host directories (and what is below them) its pods may bind with -v; absent: none (the default tenant: any). */
    allowBind: z.array(z.string().startsWith('/', 'must be an absolute host path').max(4096)).max(100).optional(),
  })
  .strict();
export type TenantPolicy = z.infer<typeof TenantPolicy>;

export const tenantEventSchemas = [
  // the public half of an nkey (the seed stays with the tenant): safe in a log every host reads
  tenantEvent('tenant.added', { nkey: z.string().regex(/^U[A-Z2-7]{55}$/, 'must be a user nkey (U…, 56 characters)'), policy: TenantPolicy.default({}) }),
  tenantEvent('tenant.removed', { reason: z.string().max(4000).optional() }),
] as const;

export type TenantEvent = z.infer<(typeof tenantEventSchemas)[number]>;
