// What a tenant may ask for: its policy checked against a pod spec. Pure; a refusal names the policy and the field.
import type { PodSpec } from '../events/schemas/mod.js';
import type { TenantPolicy } from '../events/schemas/tenant-events.js';
import { parseRef } from '../images/reference.js';

export interface PolicyRefusal {
  policy: 'maxCpus' | 'maxMemoryMb' | 'registries';
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
  return null;
}
