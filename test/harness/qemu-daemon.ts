// Test harness: one hyperd --driver qemu on its own embedded NATS, in a fresh data dir with busybox loaded, for CLI tests.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireGuest } from './guest.js';
import { killStrays, tempDir } from './nats.js';
import { hyper, removeOwnNetwork, startHyperd, type DaemonProc } from './processes.js';
import { killQemuUnder } from './qemu.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface QemuDaemon {
  dataDir: string;
  /** What CLI commands need to find this daemon (its data dir; no HYPER_NATS). */
  env: Record<string, string>;
  daemon: DaemonProc;
  /** Starts hyperd again on the same data dir (after a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startQemuDaemon(prefix: string, hostId: string, extra: string[] = []): Promise<QemuDaemon> {
  requireGuest();
  const dataDir = tempDir(prefix);
  const env = { HYPER_DATA_DIR: dataDir, HYPER_NATS: '' };
  execFileSync(join(root, 'scripts', 'import-busybox.sh'), [dataDir]);
  const start = () => startHyperd(['--host-id', hostId, '--data-dir', dataDir, '--driver', 'qemu', '--stop-pods-on-exit', ...extra], env);
  const q: QemuDaemon = {
    dataDir,
    env,
    daemon: start(),
    async restart() {
      q.daemon = start();
      await q.daemon.ready;
    },
    async stop() {
      await q.daemon.stop('SIGTERM');
      killQemuUnder(dataDir);
      killStrays(dataDir);
      await removeOwnNetwork(dataDir);
    },
  };
  await q.daemon.ready;
  return q;
}

/** The daemon's templates, as `hyper template ls -o json` lists them. */
export async function templatesOf(q: QemuDaemon): Promise<{ key: string; builtAt: number; layout: { slots?: boolean } }[]> {
  return JSON.parse((await hyper(['template', 'ls', '-o', 'json', '--data-dir', q.dataDir], q.env)).stdout);
}

/** Waits until the daemon has `count` templates (hyperd --templates makes the default size's as it starts). */
export async function untilTemplates(q: QemuDaemon, count: number, ms = 60_000): Promise<void> {
  for (const until = Date.now() + ms; (await templatesOf(q)).length < count;) {
    if (Date.now() > until) throw new Error(`fewer than ${count} templates after ${ms / 1000} s: ${JSON.stringify(await templatesOf(q))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
