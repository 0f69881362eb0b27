// `hyper volume create|ls|inspect|rm`: the named volumes of this host's store (like images, per host), as docker volume.
import type { Command } from 'commander';
import { openSession, type GlobalOptions } from '../connection.js';
import { binaryBytes, printJson, table } from '../format.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { HOLDS_RESOURCES } from '../../model/pod-machine.js';
import { tenantOf } from '../../events/schemas/subjects.js';

const storeOf = async (g: GlobalOptions) => new (await import('../../volumes/store.js')).VolumeStore(g.dataDir ?? defaultDataDir());

function parseSize(v: string): number {
  const m = /^(\d+)\s*([mMgGtT]?)[bB]?$/.exec(v.trim());
  if (!m) throw new Error(`--size ${v}: give a size such as 512M, 10G or 1T`);
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  return unit === 'g' ? n * 1024 : unit === 't' ? n * 1024 * 1024 : n;
}

export function registerVolume(program: Command, globals: () => GlobalOptions): void {
  const vol = program.command('volume').description('named volumes on this host: disks that outlive pods (-v NAME:/path)');
  vol
    .command('create <name>')
    .description('make an empty volume (ext4, sparse); hyper run -v NAME:/path makes one of 1G on first use too')
    .option('--size <size>', 'its size, e.g. 512M or 10G', '1G')
    .action(async (name: string, o: { size: string }) => {
      const g = globals();
      const s = await openSession(g);
      try {
        const v = await (await storeOf(g)).create(s.tenant, name, parseSize(o.size));
        process.stdout.write(`${v.name}\n`);
      } finally {
        await s.close();
      }
    });
  vol
    .command('ls')
    .description('this host\'s volumes')
    .action(async () => {
      const g = globals();
      const s = await openSession(g);
      try {
        const view = await s.view();
        const vols = (await storeOf(g)).list(s.tenant);
        const users = usersOf(view, s.tenant);
        if (g.output === 'json') return printJson(vols.map((v) => ({ ...v, usedBy: users.get(v.name) ?? [] })));
        process.stdout.write(table(['NAME', 'SIZE', 'USED', 'IN USE BY'], vols.map((v) => [v.name, binaryBytes(v.sizeMb * 1024 * 1024), binaryBytes(v.usedBytes), (users.get(v.name) ?? []).join(', ')])) + '\n');
      } finally {
        await s.close();
      }
    });
  vol
    .command('inspect <name...>')
    .description('volumes as JSON: size, path on the host, the pods using it')
    .action(async (names: string[]) => {
      const g = globals();
      const s = await openSession(g);
      try {
        const store = await storeOf(g);
        const users = usersOf(await s.view(), s.tenant);
        printJson(names.map((n) => {
          const v = store.get(s.tenant, n);
          if (!v) throw new Error(`no volume ${n} — list them with: hyper volume ls`);
          return { ...v, usedBy: users.get(n) ?? [] };
        }));
      } finally {
        await s.close();
      }
    });
  vol
    .command('rm <name...>')
    .description('remove volumes and their data (refused while a pod uses one)')
    .action(async (names: string[]) => {
      const g = globals();
      const s = await openSession(g);
      try {
        const store = await storeOf(g);
        const users = usersOf(await s.view(), s.tenant);
        for (const n of names) {
          const by = users.get(n);
          if (by?.length) throw new Error(`volume ${n} is in use by pod ${by.join(', ')}: remove or stop it first`);
          store.remove(s.tenant, n);
          process.stdout.write(`${n}\n`);
        }
      } finally {
        await s.close();
      }
    });
}

/** Volume name → the pods of this tenant that hold a VM and mount it. */
function usersOf(view: Awaited<ReturnType<Awaited<ReturnType<typeof openSession>>['view']>>, tenant: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of view.pods.values()) {
    if (tenantOf(p.context) !== tenant || !HOLDS_RESOURCES.has(p.state)) continue;
    const names = new Set((p.context.spec?.containers ?? []).flatMap((c) => (c.volumes ?? []).map((v) => v.source).filter((x) => !x.startsWith('/'))));
    for (const n of names) out.set(n, [...(out.get(n) ?? []), p.context.name ?? p.context.id]);
  }
  return out;
}
