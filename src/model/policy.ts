// What a tenant may ask for: its policy checked against a pod spec. Pure; a refusal names the policy and the field.
import type { PodSpec } from '../events/schemas/mod.js';
import type { TenantPolicy } from '../events/schemas/tenant-events.js';
import { parseRef } from '../images/reference.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';

export interface PolicyRefusal {
  policy: 'maxCpus' | 'maxMemoryMb' | 'registries' | 'allowBind';
  path: string;
  message: string;
}

export function policyRefusal(tenant: string, policy: TenantPolicy, spec: PodSpec): PolicyRefusal | null {
  const { cpus, memoryMb } = spec.resources;
  if (policy.maxCpus !== undefined && cpus > policy.maxCpus) {
    return { policy: 'maxCpus', path: 'spec.resources.cpus', message: `${cpus} vCPUs is more than tenant ${tenant}'s policy allows one pod (maxCpus ${policy.maxCpus})` };
  }
  if (policy.maxMemoryMb !== undefined && memoryMb > policy.maxMemoryMb) {
    return { policy: 'maxMemoryMb', path: 'spec.resources.memoryMb', message: `${memoryMb} MB is more than tenant ${tenant}'s policy allows one pod (maxMemoryMb ${policy.maxMemoryMb})` };
  }
  if (policy.registries) {
    for (const [i, c] of spec.containers.entries()) {
      const domain = parseRef(c.image).domain;
      if (!policy.registries.includes(domain)) {
        return { policy: 'registries', path: `spec.containers.${i}.image`, message: `tenant ${tenant}'s policy (registries) allows images only from ${policy.registries.join(', ')}, not from ${domain} (image ${c.image})` };
      }
    }
  }
  // a host directory bound into a VM is the host's: only the host's own tenant, or a tenant allowed that directory
  for (const [i, c] of spec.containers.entries()) {
    for (const [j, v] of (c.volumes ?? []).entries()) {
      if (tenant === DEFAULT_TENANT || !v.source.startsWith('/')) continue; // named volumes are the tenant's own
      const under = (dir: string) => v.source === dir || v.source.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
      if (!policy.allowBind?.some(under)) {
        const allowed = policy.allowBind?.length ? `only below ${policy.allowBind.join(', ')}` : 'none (an admin allows some with hyper tenant add --allow-bind DIR)';
        return { policy: 'allowBind', path: `spec.containers.${i}.volumes.${j}.source`, message: `tenant ${tenant} may not bind host directory ${v.source}: its policy (allowBind) allows ${allowed}` };
      }
    }
  }
  // a host file read into a pod is the host's too: the same rule as a bound directory
  for (const [i, c] of spec.containers.entries()) {
    for (const [j, f] of (c.files ?? []).entries()) {
      if (tenant === DEFAULT_TENANT || !f.source) continue;
      const under = (dir: string) => f.source === dir || f.source!.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
      if (!policy.allowBind?.some(under)) return { policy: 'allowBind', path: `spec.containers.${i}.files.${j}.source`, message: `tenant ${tenant} may not read host file ${f.source}: its policy (allowBind) allows ${policy.allowBind?.length ? `only below ${policy.allowBind.join(', ')}` : 'none'}` };
    }
  }
  return null;
}
