// Where a daemon keeps its data and announces itself, so the CLI on the same machine finds its embedded NATS.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(): string {
  if (process.env.HYPER_DATA_DIR) return process.env.HYPER_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'hyper');
}

/** JSON written by a running daemon: { pid, hostId, nats: [urls], embedded }. */
export const announceFile = (dataDir: string) => join(dataDir, 'hyperd.json');
