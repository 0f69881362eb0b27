// Starts one QEMU microvm with our kernel and initramfs, the agent's virtio-serial channel, QMP, 9p shares and a console log;
// connects to the agent and QMP, and stops the VM by a ladder: agent shutdown, then QMP quit, then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { DriverError } from '../../errors.js';
import { AgentClient } from '../../guest/agent-client.js';
import { QmpClient } from './qmp.js';

export interface QemuOptions {
  kernel: string;
  initrd: string;
  /** A fresh directory for the agent socket and the console log. */
  workDir: string;
  cpus?: number;
  memoryMb?: number;
  accel?: 'tcg' | 'kvm';
  /** Host directories shared over virtio-9p; the guest mounts them by tag. */
  shares?: { tag: string; path: string }[];
  /** Read-only block devices (raw or EROFS images), /dev/vda, /dev/vdb… in order. */
  disks?: string[];
  binary?: string;
  bootTimeoutMs?: number;
  /** CPU model (default: host under KVM, max under TCG). */
  cpuModel?: string;
  /** Extra kernel command-line words. */
  append?: string[];
  /** SIGKILL QEMU when this process dies (setpriv --pdeathsig); default true. Tests turn it off to leave an orphan. */
  parentDeathSignal?: boolean;
}

/** Which rung of stop() ended the VM; 'exited' if QEMU was already gone. */
export type StopRung = 'agent' | 'qmp' | 'kill' | 'exited';

export interface QemuVm {
  proc: ChildProcess;
  agent: AgentClient;
  /** QEMU's monitor (QMP), connected and past capabilities negotiation. */
  qmp: QmpClient;
  /** Where QEMU wrote its pid (-pidfile); an orphan sweep finds VMs of a dead daemon by it. */
  pidFile: string;
  /** ms from spawning QEMU to the agent's first answer. */
  readyMs: number;
  /** ms from spawning QEMU until its agent socket accepted a connection: QEMU's own start-up, before the guest runs. */
  vmmMs: number;
  consoleLog: string;
  consoleTail(lines?: number): string;
  /**
   * Stops QEMU within about graceMs: asks the agent to power off (~70% of graceMs), then QMP quit, then SIGKILL.
   * Resolves with the rung that worked (also kept in stoppedBy); calling it again returns the same promise.
   */
  stop(graceMs?: number): Promise<StopRung>;
  stoppedBy: StopRung | null;
  kill(): void;
  exited: Promise<number | null>;
}

/** Kernel command line: quiet, no delay-loop calibration (lpj), reset by triple fault on panic or reboot (QEMU's -no-reboot turns it into an exit). */
export const KERNEL_CMDLINE = ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'lpj=4000000', 'tsc=reliable', 'no_timer_check', '8250.nr_uarts=1', 'random.trust_cpu=on', 'rdinit=/init'];

/**
 * Under software emulation, calibrating the local APIC timer against the PIT costs ~250 ms of boot. A single-vCPU guest
 * needs no per-CPU timer (the PIT drives its ticks), so skip it there; SMP guests and KVM keep the LAPIC timer.
 */
function tcgTuning(o: QemuOptions): string[] {
  return o.accel !== 'kvm' && (o.cpus ?? 1) === 1 ? ['nolapic_timer'] : [];
}

export function qemuArgs(o: QemuOptions): string[] {
  const sock = join(o.workDir, 'agent.sock');
  const args = [
    '-qmp', `unix:${join(o.workDir, 'qmp.sock')},server=on,wait=off`,
    '-pidfile', join(o.workDir, 'qemu.pid'),
    // keep the RTC: without it the kernel's boot-time CMOS read waits up to a second for an update-in-progress bit
    '-M', 'microvm,x-option-roms=off,isa-serial=on,acpi=off',
    '-accel', o.accel === 'kvm' ? 'kvm' : 'tcg,tb-size=64',
    '-cpu', o.cpuModel ?? (o.accel === 'kvm' ? 'host' : 'max'),
    '-smp', String(o.cpus ?? 1),
    '-m', String(o.memoryMb ?? 128),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', [...KERNEL_CMDLINE, ...tcgTuning(o), ...(o.append ?? [])].join(' '),
    '-serial', `file:${join(o.workDir, 'console.log')}`,
    // port 0 is reserved for a console; every extra port costs the guest ~128 KB of receive buffers (31 by default)
    '-device', 'virtio-serial-device,max_ports=2',
    '-chardev', `socket,id=agent,path=${sock},server=on,wait=off`,
    '-device', 'virtserialport,chardev=agent,name=hyper.agent',
    '-device', 'virtio-rng-device',
  ];
  (o.shares ?? []).forEach((s, i) => {
    args.push('-fsdev', `local,id=fs${i},path=${s.path},security_model=none`, '-device', `virtio-9p-device,fsdev=fs${i},mount_tag=${s.tag}`);
  });
  (o.disks ?? []).forEach((d, i) => {
    args.push('-drive', `id=disk${i},file=${d},format=raw,if=none,readonly=on`, '-device', `virtio-blk-device,drive=disk${i}`);
  });
  return args;
}

/** The executable `cmd` resolves to on PATH (or `cmd` itself if it names a path), or null. */
function onPath(cmd: string): string | null {
  const candidates = cmd.includes('/') ? [cmd] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  return null;
}

let warnedNoSetpriv = false;

/**
 * QEMU must not outlive hyperd: setpriv (util-linux) sets PR_SET_PDEATHSIG=SIGKILL and then execs QEMU, so the pid is
 * QEMU's own. Without setpriv, spawn directly and warn once; the orphan sweep at the next daemon start covers that case.
 */
function spawnQemu(binary: string, args: string[], pdeathsig: boolean): ChildProcess {
  const stdio: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
  if (!pdeathsig) return spawn(binary, args, { stdio });
  const setpriv = onPath('setpriv');
  if (setpriv) return spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', binary, ...args], { stdio });
  if (!warnedNoSetpriv) {
    warnedNoSetpriv = true;
    process.emitWarning('setpriv is not installed: QEMU processes will outlive this process if it is killed (the next hyperd start sweeps them) — install it with: apt-get install util-linux', 'HyperWarning');
  }
  return spawn(binary, args, { stdio });
}

/** Resolves true if `p` settles within ms, false otherwise; leaves no timer behind. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

export async function launchQemu(o: QemuOptions): Promise<QemuVm> {
  for (const f of [o.kernel, o.initrd]) if (!existsSync(f)) throw new DriverError('missing', `cannot boot: ${f} does not exist — build the guest with: npm run build:guest`);
  mkdirSync(o.workDir, { recursive: true });
  const binary = o.binary ?? 'qemu-system-x86_64';
  // through setpriv a missing QEMU would surface as setpriv's exit code 127, so check here and keep the clear error
  if (!onPath(binary)) throw new DriverError('spawn', `could not start ${binary}: not found on PATH — install it with: apt-get install qemu-system-x86`);
  const consoleLog = join(o.workDir, 'console.log');
  const pidFile = join(o.workDir, 'qemu.pid');
  const t0 = performance.now();
  const proc = spawnQemu(binary, qemuArgs(o), o.parentDeathSignal ?? true);
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { if (stderr.length < 65536) stderr += b.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const consoleTail = (lines = 20) => {
    try {
      return readFileSync(consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const failure = (what: string) =>
    new DriverError('boot', `${what} (qemu pid ${proc.pid})\n--- qemu stderr ---\n${stderr.trim() || '(empty)'}\n--- guest console (last lines) ---\n${consoleTail() || '(empty)'}`);
  let spawnError: Error | null = null;
  proc.once('error', (err) => (spawnError = err));

  const timeout = o.bootTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeout;
  let socket: Socket | null = null;
  while (!socket) {
    if (spawnError) throw new DriverError('spawn', `could not start ${binary}: ${(spawnError as Error).message} — install it with: apt-get install qemu-system-x86`);
    if (proc.exitCode !== null) throw failure(`qemu exited with code ${proc.exitCode} before the agent answered`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw failure(`the agent socket did not appear within ${timeout} ms`);
    }
    socket = await new Promise<Socket | null>((resolve) => {
      const s = connect(join(o.workDir, 'agent.sock'));
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
    if (!socket) await new Promise((r) => setTimeout(r, 5));
  }
  // QEMU creates both sockets before the guest runs, so QMP negotiates while the guest boots, off the critical path
  const qmpReady = QmpClient.connect(join(o.workDir, 'qmp.sock'), { timeoutMs: Math.max(1_000, deadline - Date.now()) });
  qmpReady.catch(() => {});
  const abandon = () => {
    proc.kill('SIGKILL');
    void qmpReady.then((q) => q.close(), () => {});
  };
  const vmmMs = performance.now() - t0;
  const agent = new AgentClient(socket, socket);
  try {
    await Promise.race([
      agent.waitReady(Math.max(1, deadline - Date.now())),
      exited.then((code) => { throw failure(`qemu exited with code ${code} while booting`); }),
    ]);
  } catch (err) {
    abandon();
    throw err instanceof DriverError ? err : failure(`the guest agent did not answer within ${timeout} ms: ${(err as Error).message}`);
  }
  const readyMs = performance.now() - t0;
  // clones of one VM image must not share randomness: every guest gets fresh entropy from the host first
  await agent.reseed(randomBytes(64)).catch((err) => {
    abandon();
    throw failure(`reseeding the guest RNG failed: ${(err as Error).message}`);
  });
  const qmp = await qmpReady.catch((err) => {
    abandon();
    throw failure(`QMP did not come up: ${(err as Error).message}`);
  });

  const gone = () => proc.exitCode !== null || proc.signalCode !== null;
  const ladder = async (graceMs: number): Promise<StopRung> => {
    if (gone()) return 'exited';
    const t = Date.now();
    // 1. the agent stops containers, syncs and powers off; with -no-reboot the reset that follows makes QEMU exit
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      exited.then(() => 'exited' as const),
      agent.shutdown().then(() => exited.then(() => 'exited' as const), () => 'refused' as const),
      new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), Math.round(graceMs * 0.7)))),
    ]).finally(() => clearTimeout(timer));
    // the agent's channel also closes while QEMU exits, so a failed request gets a moment's look before moving on
    if (outcome === 'exited' || (outcome === 'refused' && (await within(exited, 100)))) return 'agent';
    // 2. quit, not system_powerdown: microvm runs without ACPI, so a powerdown request reaches nothing in the guest;
    //    quit ends QEMU at once, and the guest was given its chance to sync in rung 1
    const qmpMs = Math.max(500, graceMs - (Date.now() - t));
    qmp.execute('quit', undefined, qmpMs).catch(() => {});
    if (await within(exited, qmpMs)) return 'qmp';
    // 3. QEMU itself is wedged (or stopped)
    proc.kill('SIGKILL');
    await exited;
    return 'kill';
  };
  let stopping: Promise<StopRung> | null = null;
  const vm: QemuVm = {
    proc, agent, qmp, pidFile, readyMs, vmmMs, consoleLog, consoleTail, exited, stoppedBy: null,
    kill: () => proc.kill('SIGKILL'),
    stop(graceMs = 3_000) {
      stopping ??= ladder(graceMs).then((rung) => {
        vm.stoppedBy = rung;
        socket!.destroy();
        qmp.close();
        return rung;
      });
      return stopping;
    },
  };
  return vm;
}
