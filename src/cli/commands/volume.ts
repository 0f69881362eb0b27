// `hyper volume create|ls|inspect|rm`: the named volumes of this host's store (like images, per host), as docker volume.
import type { Command } from 'commander';
import { openSession, type GlobalOptions } from '../connection.js';
import { binaryBytes, printJson, table } from '../format.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { volumeUsers } from '../../volumes/claims.js';
import { parseVolumeSize } from '../../volumes/store.js';

const storeOf = async (g: GlobalOptions) => new (await import('../../volumes/store.js')).VolumeStore(g.dataDir ?? defaultDataDir());
type VolumeStore = import('../../volumes/store.js').VolumeStore;

/** Runs `fn` with a session, this host's volume store and who uses each volume, closing the session after. */
async function withVolumes(g: GlobalOptions, fn: (c: { tenant: string; store: VolumeStore; users: () => Promise<Map<string, string[]>> }) => Promise<void>): Promise<void> {
  const s = await openSession(g);
  try {
    await fn({ tenant: s.tenant, store: await storeOf(g), users: async () => volumeUsers(await s.view(), s.tenant) });
  } finally {
    await s.close();
  }
}

export function registerVolume(program: Command, globals: () => GlobalOptions): void {
  const vol = program.command('volume').description('named volumes on this host: disks that outlive pods (-v NAME:/path)');
  vol
    .command('create <name>')
    .description('make an empty volume (ext4, sparse); hyper run -v NAME:/path makes one of 1G on first use too')
    .option('--size <size>', 'its size, e.g. 512M or 10G', '1G')
    .action((name: string, o: { size: string }) =>
      withVolumes(globals(), async ({ tenant, store }) => {
        process.stdout.write(`${(await store.create(tenant, name, parseVolumeSize(o.size))).name}\n`);
      }));
  vol
    .command('ls')
    .description('this host\'s volumes')
    .action(() =>
      withVolumes(globals(), async ({ tenant, store, users }) => {
        const by = await users();
        const vols = store.list(tenant);
        if (globals().output === 'json') return printJson(vols.map((v) => ({ ...v, usedBy: by.get(v.name) ?? [] })));
        process.stdout.write(table(['NAME', 'SIZE', 'USED', 'IN USE BY'], vols.map((v) => [v.name, binaryBytes(v.sizeMb * 1024 * 1024), binaryBytes(v.usedBytes), (by.get(v.name) ?? []).join(', ')])) + '\n');
      }));
  vol
    .command('inspect <name...>')
    .description('volumes as JSON: size, path on the host, the pods using it')
    .action((names: string[]) =>
      withVolumes(globals(), async ({ tenant, store, users }) => {
        const by = await users();
        printJson(names.map((n) => {
          const v = store.get(tenant, n);
          if (!v) throw new Error(`no volume ${n} — list them with: hyper volume ls`);
          return { ...v, usedBy: by.get(n) ?? [] };
        }));
      }));
  vol
    .command('rm <name...>')
    .description('remove volumes and their data (refused while a pod uses one)')
    .action((names: string[]) =>
      withVolumes(globals(), async ({ tenant, store, users }) => {
        const by = await users();
        for (const n of names) {
          if (by.get(n)?.length) throw new Error(`volume ${n} is in use by pod ${by.get(n)!.join(', ')}: remove or stop it first`);
          store.remove(tenant, n);
          process.stdout.write(`${n}\n`);
        }
      }));
}
