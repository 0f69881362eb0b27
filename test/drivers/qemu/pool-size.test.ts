// hyperd --pool's sizes: [TENANT:][CPUSx]MB=N, refused by name when malformed or out of range (or naming a tenant while
// tenants share templates); the line hyper info prints of how VMs start.
import { describe, expect, it } from 'vitest';
import { parsePoolSize } from '../../../src/drivers/qemu/pool.js';
import { vmStartsSummary } from '../../../src/daemon/daemon.js';
import { templateMode } from '../../../src/daemon/command.js';

describe('parsePoolSize', () => {
  it('reads MB=N (1 vCPU) and CPUSxMB=N, with a NIC', () => {
    expect(parsePoolSize('256=4')).toEqual({ cpus: 1, memoryMb: 256, nic: true, count: 4 });
    expect(parsePoolSize(' 2x512=1 ')).toEqual({ cpus: 2, memoryMb: 512, nic: true, count: 1 });
  });

  it('reads a tenant whose pods take them: TENANT:SIZE=N', () => {
    expect(parsePoolSize('acme:256=2')).toEqual({ cpus: 1, memoryMb: 256, nic: true, count: 2, tenant: 'acme' });
    expect(parsePoolSize('team-b:2x512=1')).toEqual({ cpus: 2, memoryMb: 512, nic: true, count: 1, tenant: 'team-b' });
    expect(() => parsePoolSize('Acme:256=2')).toThrow(/"Acme" is not a tenant name/);
    // a tenant's own pool needs that tenant's templates: with one template for all, one pool serves all
    expect(templateMode(undefined, [parsePoolSize('acme:256=1')], false)).toBe('on');
    expect(() => templateMode(undefined, [parsePoolSize('256=1'), parsePoolSize('acme:256=1')], true)).toThrow(/--pool.*with --share-templates every tenant's pods take from one pool: drop "acme:"/s);
  });

  it('refuses what it cannot read, naming --pool and the rule', () => {
    expect(() => parsePoolSize('256')).toThrow(/--pool.*"256" is not \[TENANT:\]\[CPUSx\]MB=N/s);
    expect(() => parsePoolSize('256=0')).toThrow(/0 VMs: from 1 to 256/);
    expect(() => parsePoolSize('32=1')).toThrow(/32 MB: at least 64/);
    expect(() => parsePoolSize('0x256=1')).toThrow(/0 vCPUs: from 1 to 64/);
  });
});

describe('how a daemon\'s VMs start, as hyper info says it', () => {
  it('names the template mode, whether tenants share templates, the spare QEMUs and the pool', () => {
    expect(vmStartsSummary({})).toBe('from templates made by hyper template build, else cold (per tenant), each with a QEMU started ahead');
    expect(vmStartsSummary({ spareQemus: false })).toBe('from templates made by hyper template build, else cold (per tenant)');
    expect(vmStartsSummary({ templates: 'off' })).toBe('every VM boots cold (--no-templates)');
    expect(vmStartsSummary({ templates: 'on', shareTemplates: true, poolSizes: [parsePoolSize('256=4'), parsePoolSize('2x512=1')] }))
      .toBe('from templates, made when a size first needs one (shared by tenants), each with a QEMU started ahead; a pool of 4 × 1 vCPU / 256 MB, 1 × 2 vCPU / 512 MB paused VMs');
    expect(vmStartsSummary({ templates: 'on', poolSizes: [parsePoolSize('256=1'), parsePoolSize('acme:256=2')] }))
      .toBe('from templates, made when a size first needs one (per tenant), each with a QEMU started ahead; a pool of 1 × 1 vCPU / 256 MB, 2 × 1 vCPU / 256 MB for tenant acme paused VMs');
  });
});
