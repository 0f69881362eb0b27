// `hyper info`: this machine's drivers, accelerator verdict (and why), guest kernel and agent, image store usage; works without a daemon.
import { existsSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CAPABILITIES, DRIVERS } from '../../drivers/registry.js';
import { probeAccelerator } from '../../drivers/qemu/probe.js';
import { guestInitrd, guestKernel, kernelCacheDir } from '../../guest/artifacts.js';
import { PROTOCOL_VERSION } from '../../guest/wire.js';
import { VERSION } from '../../version.js';
import type { GlobalOptions } from '../connection.js';
import { printJson } from '../format.js';
import { announceFile, defaultDataDir } from '../../daemon/paths.js';

function file(path: string) {
  return existsSync(path) ? { path: realpathSync(path), bytes: statSync(path).size } : { path, missing: 'build it with: npm run build:guest' };
}

/** What the daemon of this data dir says of itself in its hyperd.json (null: no daemon runs there). */
function announced(dataDir: string): { network?: { summary: string }; dockerHost?: string; vmStarts?: string } | null {
  try {
    return JSON.parse(readFileSync(announceFile(dataDir), 'utf8')) as { network?: { summary: string }; dockerHost?: string; vmStarts?: string };
  } catch {
    return null;
  }
}

/** How the daemon of this data dir networks its pods; a note where no daemon runs. */
function podNetwork(dataDir: string): string {
  const a = announced(dataDir);
  if (!a) return `no daemon runs on ${dataDir}: hyperd picks bridge as root with /dev/net/tun, else user-mode (--network)`;
  return a.network?.summary ?? 'the daemon here runs no VM driver (no pod network)';
}

export function registerInfo(program: Command, globals: () => GlobalOptions): void {
  program
    .command('info')
    .description('drivers, accelerator verdict, guest kernel and agent of this machine')
    .option('--reprobe', 'probe the accelerator again instead of using the cached verdict')
    .action(async (o: { reprobe?: boolean }) => {
      const kernel = guestKernel();
      const initrd = guestInitrd();
      const cacheFile = join(kernelCacheDir(), '..', 'accel.json');
      let accel: unknown = { missing: 'no guest kernel to probe with' };
      if (existsSync(kernel) && existsSync(initrd)) {
        if (o.reprobe) rmSync(cacheFile, { force: true });
        accel = await probeAccelerator({ kernel, initrd, cacheFile });
      }
      const kconfig = join(kernel, '..', 'config');
      const dataDir = globals().dataDir ?? defaultDataDir();
      const info = {
        hyper: VERSION,
        drivers: [...DRIVERS],
        capabilities: CAPABILITIES,
        accelerator: accel,
        kernel: { ...file(kernel), linuxSource: existsSync(join(kernel, '..', 'linux-source-version')) ? readFileSync(join(kernel, '..', 'linux-source-version'), 'utf8').trim() : undefined, options: existsSync(kconfig) ? readFileSync(kconfig, 'utf8').split('\n').filter((l) => /^CONFIG_.*=/.test(l)).length : undefined },
        initramfs: file(initrd),
        agentProtocol: PROTOCOL_VERSION,
        network: podNetwork(dataDir),
        dockerHost: announced(dataDir)?.dockerHost ?? null,
        vmStarts: announced(dataDir)?.vmStarts ?? null,
        store: await (async () => {
          const images = new (await import('../../images/store.js')).ImageStore(dataDir);
          return { path: images.root, ...images.usage() };
        })(),
      };
      if (globals().output === 'json') return printJson(info);
      const a = accel as { accel?: string; reason?: string; missing?: string };
      process.stdout.write(
        [
          `hyper ${VERSION}`,
          `drivers:      ${info.drivers.join(', ')}`,
          ...DRIVERS.map((d) => {
            const c = CAPABILITIES[d];
            const yes = (b: boolean, what: string) => `${b ? '' : 'no '}${what}`;
            return `  ${d.padEnd(12)}${[yes(c.reattach, 're-attach (pods outlive hyperd)'), yes(c.isolation, 'isolation'), `≤ ${c.maxCpus} vCPUs`, `≤ ${c.maxMemoryMb} MB`].join(', ')}`;
          }),
          `accelerator:  ${a.accel ?? '-'} — ${a.reason ?? a.missing}`,
          `kernel:       ${'missing' in info.kernel ? `${kernel} (missing: npm run build:guest)` : `${info.kernel.path} (${(info.kernel.bytes / 1e6).toFixed(1)} MB, linux ${info.kernel.linuxSource}, ${info.kernel.options} options)`}`,
          `initramfs:    ${'missing' in info.initramfs ? `${initrd} (missing)` : `${info.initramfs.path} (${info.initramfs.bytes} bytes)`}`,
          `agent:        protocol ${PROTOCOL_VERSION}`,
          `pod network:  ${info.network}`,
          ...(info.dockerHost ? [`docker api:   export DOCKER_HOST=${info.dockerHost}`] : []),
          ...(info.vmStarts ? [`vm starts:    ${info.vmStarts}`] : []),
          `images:       ${info.store.images} in ${info.store.path} (layers ${(info.store.blobBytes / 1e6).toFixed(1)} MB, EROFS ${(info.store.diskBytes / 1e6).toFixed(1)} MB)`,
        ].join('\n') + '\n',
      );
    });
}
