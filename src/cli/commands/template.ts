// `hyper template build|ls|rm`: this host's VM templates (hyperd --templates starts pods from them), made ahead of time or dropped.
import type { Command } from 'commander';
import type { GlobalOptions } from '../connection.js';
import { binaryBytes, printJson, table } from '../format.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { ValidationError } from '../../errors.js';

const storeOf = async (g: GlobalOptions) => (await import('../../drivers/registry.js')).templateStore(g.dataDir ?? defaultDataDir());

function positive(what: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new ValidationError('template size', [{ path: what, message: `a whole number from 1 to ${max}, not "${v}"` }]);
    return n;
  };
}

export function registerTemplate(program: Command, globals: () => GlobalOptions): void {
  const tpl = program.command('template').description('VM templates on this host: pods start by restoring one instead of booting (hyperd --templates)');
  tpl
    .command('build')
    .description('make the template for a VM size now (hyperd makes the ones it needs on first use; a changed kernel, agent or QEMU means a new one)')
    .option('--cpus <n>', 'vCPUs', positive('--cpus', 64), 1)
    .option('--memory <mb>', 'memory in MB', positive('--memory', 65536), 256)
    .option('--no-nic', 'for pods without a network (--network none)')
    .option('--slots', 'with 2 share slots and 1 volume slot, for pods that bind host directories (-v /dir:…) or mount a named volume')
    .option('--shared', 'for every tenant (what hyperd --share-templates uses); else for the tenant of --tenant (default "default")')
    .action(async (o: { cpus: number; memory: number; nic: boolean; slots?: boolean; shared?: boolean }) => {
      const store = await storeOf(globals());
      const layout = { cpus: o.cpus, memoryMb: o.memory, nic: o.nic, ...(o.slots ? { slots: true } : {}) };
      const tenant = o.shared ? null : (globals().tenant ?? process.env.HYPER_TENANT ?? 'default');
      store.remove(store.keyOf(layout, tenant));
      if (process.stderr.isTTY) process.stderr.write(`building the template for ${o.cpus} vCPU / ${o.memory} MB${tenant ? ` (tenant ${tenant})` : ' (shared)'}…\n`);
      const t = await store.ensure(layout, tenant);
      if (globals().output === 'json') return printJson(t);
      process.stdout.write(`${t.key}\n`);
      if (process.stderr.isTTY) process.stderr.write(`built in ${t.buildMs} ms: ${binaryBytes(t.stateBytes)} of device state, ${t.layout.memoryMb} MB of guest RAM in ${t.ramFile}\n`);
    });
  tpl
    .command('ls')
    .description("this host's templates")
    .action(async () => {
      const store = await storeOf(globals());
      const all = store.list();
      if (globals().output === 'json') return printJson(all);
      process.stdout.write(table(['KEY', 'SIZE', 'NIC', 'TENANT', 'BUILT', 'BUILD TIME', 'STATE'], all.map((t) => [
        t.key, `${t.layout.cpus} vCPU / ${t.layout.memoryMb} MB`, `${t.layout.nic ? 'yes' : 'no'}${t.layout.slots ? ', slots' : ''}`, t.tenant ?? '(shared)',
        new Date(t.builtAt).toISOString().replace(/\.\d+Z$/, 'Z'), `${t.buildMs} ms`, binaryBytes(t.stateBytes),
      ])) + '\n');
    });
  tpl
    .command('rm [keys...]')
    .description('remove templates (pods running from one keep their memory; the next pod of that size makes it again)')
    .option('-a, --all', 'every template')
    .action(async (keys: string[], o: { all?: boolean }) => {
      const store = await storeOf(globals());
      if (!o.all && !keys.length) throw new ValidationError('hyper template rm', [{ path: 'keys', message: 'name the templates to remove (their KEY in hyper template ls), or give --all' }]);
      const targets = o.all ? store.list().map((t) => t.key) : keys;
      let missing = 0;
      for (const k of targets) {
        if (!/^[0-9a-f]{16}$/.test(k) || !store.remove(k)) {
          process.stderr.write(`no template ${k} on this host (hyper template ls lists them)\n`);
          missing++;
          continue;
        }
        process.stdout.write(`${k}\n`);
      }
      if (missing) process.exitCode = 1;
    });
}
