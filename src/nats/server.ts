// Starts a real nats-server (Debian package) with JetStream on a loopback port it picks itself; used by the embedded daemon and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectionError } from '../errors.js';

export interface NatsServer {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
  /** Kills the process without letting it flush: for crash tests. */
  kill(): void;
  /** Resolves when the process exits for any reason (stop() included). */
  exited: Promise<number | null>;
  /** Rewrites the config with this extra text and has the server reload it (SIGHUP): users removed are disconnected. */
  reload(extraConfig: string): void;
}

export interface NatsServerOptions {
  dataDir: string;
  /** 0 (default) lets the server pick a free port. */
  port?: number;
  host?: string;
  name?: string;
  binary?: string;
  /** Extra config text appended to the generated config file (cluster blocks etc.). */
  extraConfig?: string;
}

export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const binary = opts.binary ?? process.env.HYPER_NATS_SERVER ?? 'nats-server';
  const host = opts.host ?? '127.0.0.1';
  // the store holds every pod's spec (environment included) and the config may hold credentials: the server's alone
  mkdirSync(join(opts.dataDir, 'jetstream'), { recursive: true, mode: 0o700 });
  chmodSync(opts.dataDir, 0o700);
  const pidFile = join(opts.dataDir, 'nats-server.pid');
  await stopLeftover(pidFile);
  const config = join(opts.dataDir, 'nats-server.conf');
  const writeConfig = (port: number | undefined, extra: string | undefined) => {
    writeFileSync(
      config,
      [
        `server_name: ${JSON.stringify(opts.name ?? 'hyper')}`,
        `listen: "${host}:${port ?? -1}"`,
        // snapshots of 10k pods are chunked well below this, but events with big specs need headroom
        'max_payload: 4MB',
        `jetstream { store_dir: ${JSON.stringify(join(opts.dataDir, 'jetstream'))} }`,
        `pid_file: ${JSON.stringify(pidFile)}`,
        extra ?? '',
      ].join('\n'),
      { mode: 0o600 },
    );
    chmodSync(config, 0o600);
  };
  writeConfig(opts.port, opts.extraConfig);
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "Server is ready" within 10 s`), 10_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new ConnectionError('nats-start', `could not start ${binary} (data in ${opts.dataDir}): ${why}\n${log.slice(-2000)}\n— install it with: apt-get install nats-server`));
    };
    child.on('error', (err) => fail(err.message));
    child.on('exit', (code) => fail(`it exited with code ${code}`));
    const onData = (chunk: Buffer) => {
      if (log.length < 100_000) log += chunk.toString();
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m && log.includes('Server is ready')) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        resolve(Number(m[1]));
      }
    };
    child.stderr!.on('data', onData);
  });
  child.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return {
    exited,
    url: `nats://${host}:${port}`,
    port,
    pid: child.pid!,
    dataDir: opts.dataDir,
    stop: () => stopChild(child),
    kill: () => child.kill('SIGKILL'),
    reload: (extra) => {
      // the port it picked stays: a reload cannot move the listener
      writeConfig(port, extra);
      child.kill('SIGHUP');
    },
  };
}

/**
 * A server left running by a parent that was SIGKILLed still holds the JetStream directory; two servers on one
 * store would corrupt it, so stop the leftover (only if that pid really is a nats-server) before starting.
 */
async function stopLeftover(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // not running
  }
  if (!cmdline.includes('nats-server')) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
  if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
