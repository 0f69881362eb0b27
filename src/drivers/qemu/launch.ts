// Starts one QEMU microvm with our kernel and initramfs, the agent's virtio-serial channel, QMP, 9p shares and a console log,
// detached from this process (its own session, no parent-death signal) so it outlives a daemon restart; re-attaches to one
// started earlier; and stops a VM by a ladder: agent shutdown, then QMP quit, then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { DriverError } from '../../errors.js';
import type { Device } from '../driver.js';
import { AgentClient, type AgentClientOptions } from '../../guest/agent-client.js';
import { isQemuOf, onPath, waitGone } from './process.js';
import { QmpClient } from './qmp.js';

export interface QemuOptions {
  kernel: string;
  initrd: string;
  /** A fresh directory for the agent socket and the console log. */
  workDir: string;
  cpus?: number;
  memoryMb?: number;
  accel?: 'tcg' | 'kvm';
  /** Host directories shared over virtio-9p; the guest mounts them by tag (readonly: QEMU refuses every write). */
  shares?: { tag: string; path: string; readonly?: boolean }[];
  /** Read-only block devices (raw or EROFS images), /dev/vda, /dev/vdb… in order. */
  disks?: string[];
  /** Writable block devices after the disks (named volumes), in order. */
  volumes?: { path: string; readonly: boolean }[];
  /** A virtio-net NIC (eth0 in the guest): on a tap made beforehand, or QEMU's user-mode network with port forwards. */
  nic?: Extract<Device, { kind: 'nic' }> | TemplateNic;
  binary?: string;
  bootTimeoutMs?: number;
  /** CPU model (default: host under KVM, max under TCG). */
  cpuModel?: string;
  /** Extra kernel command-line words. */
  append?: string[];
  /** How the host's agent client acknowledges output and releases exits (default: at once, for tests and probes). */
  agent?: AgentClientOptions;
  /** Called as soon as QEMU runs, before the guest boots: where a daemon records the VM so a restart can find it. */
  onSpawned?: (pid: number) => void;
  /**
   * Guest RAM in a file instead of anonymous memory: shared (a template, whose pages its clones map) or a private
   * copy-on-write mapping of it (a clone: it reads the template's pages and copies only those it writes).
   */
  memoryFile?: { path: string; share: boolean };
  /**
   * Restores a template's saved device state instead of booting (the guest RAM is memoryFile's, saved with x-ignore-shared):
   * the command line must give the template's devices in the template's order. The agent is then told it was restored
   * (fresh entropy, the host's time, bootId as its boot id).
   */
  restore?: { stateFile: string; bootId: string };
  /**
   * Keep the local APIC timer under software emulation (a template's boot): its ~250 ms calibration is paid once, by the
   * build, and a clone's idle guest then sleeps up to seconds between timer interrupts instead of the PIT's ~55 ms.
   */
  lapicTimer?: boolean;
}

/**
 * A template's NIC: the virtio-net device a clone's will be, on a backend with no state of its own (a hub port with
 * nothing else on it). A user-mode (slirp) backend would write its state into the template, and a clone on a tap could
 * not load it.
 */
export interface TemplateNic {
  kind: 'nic';
  mode: 'unplugged';
  mac: string;
}

/** A VM that did not come up: the message has QEMU's stderr and the console's tail; `qemuSaid` its stderr's first line. */
export class BootError extends DriverError {
  constructor(message: string, readonly what: string, readonly qemuSaid: string | null) {
    super('boot', message);
  }
}

/** Which rung of stop() ended the VM; 'exited' if QEMU was already gone. */
export type StopRung = 'agent' | 'qmp' | 'kill' | 'exited';

export interface QemuVm {
  pid: number;
  /** The QEMU child process when this process started it; null for a VM re-attached after a restart. */
  proc: ChildProcess | null;
  workDir: string;
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
  /** Resolves when QEMU is gone: its exit code if it was this process's child, else null. */
  exited: Promise<number | null>;
  /** How QEMU ended, in words: exit code or signal (known only for a child of this process). */
  howExited(): string;
  /** Closes the agent and QMP connections and stops watching QEMU, which keeps running. */
  detach(): void;
}

/** Kernel command line: quiet, no delay-loop calibration (lpj), reset by triple fault on panic or reboot (QEMU's -no-reboot turns it into an exit). */
export const KERNEL_CMDLINE = ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'lpj=4000000', 'tsc=reliable', 'no_timer_check', '8250.nr_uarts=1', 'random.trust_cpu=on', 'rdinit=/init'];

/**
 * Under software emulation, calibrating the local APIC timer against the PIT costs ~250 ms of boot. A single-vCPU guest
 * needs no per-CPU timer (the PIT drives its ticks), so skip it there; SMP guests and KVM keep the LAPIC timer.
 */
function tcgTuning(o: QemuOptions): string[] {
  if (o.accel === 'kvm') return [];
  const khz = hostTscKhz();
  return [...((o.cpus ?? 1) === 1 && !o.lapicTimer ? ['nolapic_timer'] : []), ...(khz ? [`tsc_early_khz=${khz}`] : [])];
}

let tscKhz: number | null | undefined;
/**
 * The host's TSC rate, which a guest under software emulation reads as its own TSC's: told to the guest, its kernel uses
 * the TSC as its clock without calibrating it against the emulated PIT — a calibration that fails on a busy host (measured:
 * "Unable to calibrate against PIT"), leaving the guest on the jiffies clock, where an idle guest cannot stop its 100 Hz
 * tick. Known only where /proc/cpuinfo's rate is the TSC's (no cpufreq scaling it); null elsewhere: the guest calibrates.
 */
export function hostTscKhz(): number | null {
  if (tscKhz !== undefined) return tscKhz;
  tscKhz = null;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    if (existsSync('/sys/devices/system/cpu/cpu0/cpufreq') || !/^flags\s*:.*\bconstant_tsc\b/m.test(info)) return tscKhz;
    const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1]);
    if (mhz > 100) tscKhz = Math.round(mhz * 1000);
  } catch {}
  return tscKhz;
}

export function qemuArgs(o: QemuOptions): string[] {
  const sock = join(o.workDir, 'agent.sock');
  const args = [
    '-qmp', `unix:${join(o.workDir, 'qmp.sock')},server=on,wait=off`,
    '-pidfile', join(o.workDir, 'qemu.pid'),
    // keep the RTC: without it the kernel's boot-time CMOS read waits up to a second for an update-in-progress bit
    '-M', `microvm,x-option-roms=off,isa-serial=on,acpi=off${o.memoryFile ? ',memory-backend=mem' : ''}`,
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
  if (o.memoryFile) args.push('-object', `memory-backend-file,id=mem,size=${o.memoryMb ?? 128}M,mem-path=${o.memoryFile.path},share=${o.memoryFile.share ? 'on' : 'off'}`);
  if (o.restore) args.push('-incoming', 'defer');
  (o.shares ?? []).forEach((s, i) => {
    args.push('-fsdev', `local,id=fs${i},path=${qemuValue(s.path)},security_model=none${s.readonly ? ',readonly=on' : ''}`, '-device', `virtio-9p-device,fsdev=fs${i},mount_tag=${s.tag}`);
  });
  if (o.nic) {
    const netdev = o.nic.mode === 'unplugged' ? 'hubport,id=net0,hubid=0' : o.nic.mode === 'tap'
      ? `tap,id=net0,ifname=${o.nic.tap},script=no,downscript=no`
      : ['user,id=net0,net=10.0.2.0/24', ...o.nic.forwards.map((f) => `hostfwd=${f.protocol}:${f.hostIp === '0.0.0.0' ? '' : f.hostIp}:${f.hostPort}-:${f.containerPort}`)].join(',');
    args.push('-netdev', netdev, '-device', `virtio-net-device,netdev=net0,mac=${o.nic.mac}`);
  }
  // node names of their own (a file node under a raw one), so a pooled clone's slot can be given the pod's image later
  (o.disks ?? []).forEach((d, i) => {
    args.push('-blockdev', `driver=file,filename=${qemuValue(d)},node-name=disk${i}-file,read-only=on`, '-blockdev', `driver=raw,file=disk${i}-file,node-name=disk${i},read-only=on`, '-device', `virtio-blk-device,drive=disk${i}`);
  });
  (o.volumes ?? []).forEach((v, i) => {
    args.push('-drive', `id=vol${i},file=${v.path},format=raw,if=none,readonly=${v.readonly ? 'on' : 'off'},cache=writeback`, '-device', `virtio-blk-device,drive=vol${i}`);
  });
  return args;
}

/** A value inside a QEMU option list: its commas doubled. */
const qemuValue = (v: string) => v.replace(/,/g, ',,');

/**
 * Gives a paused clone's disk slots other images (QEMU 7.2's blockdev-reopen swaps a raw node's file child): slot i
 * (disk i of qemuArgs) reads images[i] from now on. The guest keeps the capacity it read at the template's boot.
 */
export function plugDisks(qmp: QmpClient, images: string[]): Promise<unknown> {
  // sent at once (QMP answers by id, QEMU runs them in order): one round trip instead of three per slot
  return Promise.all(images.flatMap((image, i) => {
    const file = `disk${i}-pod`;
    return [
      qmp.execute('blockdev-add', { driver: 'file', filename: image, 'node-name': file, 'read-only': true }),
      qmp.execute('blockdev-reopen', { options: [{ driver: 'raw', 'node-name': `disk${i}`, file, 'read-only': true }] }),
      qmp.execute('blockdev-del', { 'node-name': `disk${i}-file` }),
    ];
  }));
}

/**
 * Plugs a network backend into a paused clone's NIC: the template's NIC sits on hub 0 alone (TemplateNic); a tap (or
 * QEMU's user-mode network with its port forwards) joins that hub as a second port.
 */
export function plugNic(qmp: QmpClient, nic: Extract<Device, { kind: 'nic' }>): Promise<unknown> {
  const backend = nic.mode === 'tap'
    ? { type: 'tap', id: 'pod-net', ifname: nic.tap, script: 'no', downscript: 'no' }
    : { type: 'user', id: 'pod-net', net: '10.0.2.0/24', hostfwd: nic.forwards.map((f) => ({ str: `${f.protocol}:${f.hostIp === '0.0.0.0' ? '' : f.hostIp}:${f.hostPort}-:${f.containerPort}` })) };
  return Promise.all([qmp.execute('netdev_add', backend), qmp.execute('netdev_add', { type: 'hubport', id: 'pod-port', hubid: 0, netdev: 'pod-net' })]);
}

/**
 * QEMU runs detached from hyperd: its own session (setsid, as Firecracker's jailer --daemonize does), no parent-death
 * signal, stderr into its work dir. Everything needed to find it again is in that dir (pidfile, QMP and agent sockets,
 * console log; the driver adds its state file), so a restarted or upgraded daemon re-attaches instead of losing the pod.
 */
function spawnQemu(binary: string, args: string[], workDir: string): ChildProcess {
  const err = openSync(join(workDir, 'qemu.log'), 'a');
  try {
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', err], detached: true });
    proc.unref();
    return proc;
  } finally {
    closeSync(err);
  }
}

/** A VM that did not come up, with QEMU's stderr and the guest console's tail from its work dir. */
function bootFailure(pid: number | undefined, workDir: string, what: string): BootError {
  const stderr = tailOf(join(workDir, 'qemu.log'), 30);
  return new BootError(`${what} (qemu pid ${pid})\n--- qemu stderr ---\n${stderr || '(empty)'}\n--- guest console (last lines) ---\n${tailOf(join(workDir, 'console.log'), 20) || '(empty)'}`, what, stderr.split('\n').find((l) => l.trim())?.trim() ?? null);
}

/** Resolves true if `p` settles within ms, false otherwise; leaves no timer behind. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

/** The last lines of a text file in a VM's work dir ('' if it is missing). */
export function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Connects to a unix socket, retrying while it does not exist yet, until `deadline` (epoch ms) or `giveUp()` says stop. */
export async function connectUnix(path: string, deadline: number, giveUp: () => Error | null = () => null): Promise<Socket> {
  for (;;) {
    const stop = giveUp();
    if (stop) throw stop;
    const socket = await new Promise<Socket | null>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
    if (socket) return socket;
    if (Date.now() > deadline) throw new DriverError('connect', `${path} did not accept a connection in time`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function launchQemu(o: QemuOptions): Promise<QemuVm> {
  return finishLaunch(await startQemu(o));
}

/**
 * A QEMU spawned and, for a clone, restored but still paused (the first half of launchQemu): what a pool holds ready. The
 * second half (finishLaunch) lets it run and waits for its agent; in between, its devices may be given other backends.
 */
export interface StartedQemu {
  readonly o: QemuOptions;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The restored clone's monitor, past capabilities (null for a cold boot: it connects while the guest boots). */
  readonly qmp: QmpClient | null;
  readonly t0: number;
  spawnError(): Error | null;
  /** Its agent, connected and answering, when the VM was warmed up (warmUp): finishLaunch then only resumes it. */
  warm?: { socket: Socket; agent: AgentClient };
}

/** Spawns QEMU; with o.restore, loads the template's device state and leaves the guest paused. */
export async function startQemu(o: QemuOptions): Promise<StartedQemu> {
  for (const f of [o.kernel, o.initrd]) if (!existsSync(f)) throw new DriverError('missing', `cannot boot: ${f} does not exist — build the guest with: npm run build:guest`);
  mkdirSync(o.workDir, { recursive: true });
  const binary = o.binary ?? 'qemu-system-x86_64';
  if (!onPath(binary)) throw new DriverError('spawn', `could not start ${binary}: not found on PATH — install it with: apt-get install qemu-system-x86`);
  const t0 = performance.now();
  const proc = spawnQemu(binary, qemuArgs(o), o.workDir);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let spawnError: Error | null = null;
  proc.once('error', (err) => (spawnError = err));
  if (proc.pid) o.onSpawned?.(proc.pid);
  const failure = (what: string) => bootFailure(proc.pid, o.workDir, what);
  let qmp: QmpClient | null = null;
  if (o.restore) {
    // a clone: its device state is loaded before anything else (its agent socket answers only once it runs)
    const deadline = Date.now() + (o.bootTimeoutMs ?? 20_000);
    const connecting = QmpClient.connect(join(o.workDir, 'qmp.sock'), { timeoutMs: Math.max(500, deadline - Date.now()) });
    try {
      qmp = await Promise.race([
        connecting.then(async (q) => {
          await restoreState(q, o.restore!.stateFile, deadline);
          return q;
        }),
        exited.then((code) => { throw failure(`qemu exited with code ${code} while restoring the template's state`); }),
      ]);
    } catch (err) {
      proc.kill('SIGKILL');
      void connecting.then((q) => q.close(), () => {});
      throw err instanceof BootError ? err : failure(`restoring the template's state failed: ${(err as Error).message}`);
    }
  }
  return { o, proc, exited, qmp, t0, spawnError: () => spawnError };
}

/** Lets a started QEMU run (a restored one is resumed) and waits for its agent: the second half of launchQemu. */
export async function finishLaunch(s: StartedQemu, o_: { t0?: number } = {}): Promise<QemuVm> {
  const { o, proc, exited } = s;
  const failure = (what: string) => bootFailure(proc.pid, o.workDir, what);
  // a pooled clone's times count from when it was taken, not from when it was made
  const t0 = o_.t0 ?? s.t0;
  const binary = o.binary ?? 'qemu-system-x86_64';
  const timeout = o.bootTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeout;
  if (s.qmp) {
    try {
      await s.qmp.execute('cont');
    } catch (err) {
      proc.kill('SIGKILL');
      s.qmp.close();
      throw failure(`resuming the restored VM failed: ${(err as Error).message}`);
    }
  }
  if (s.warm) return ready(s, s.warm.socket, s.warm.agent, t0, deadline);
  let socket: Socket;
  try {
    socket = await connectUnix(join(o.workDir, 'agent.sock'), deadline, () => {
      const spawnError = s.spawnError();
      if (spawnError) return new DriverError('spawn', `could not start ${binary}: ${spawnError.message} — install it with: apt-get install qemu-system-x86`);
      if (proc.exitCode !== null) return failure(`qemu exited with code ${proc.exitCode} before the agent answered`);
      return null;
    });
  } catch (err) {
    proc.kill('SIGKILL');
    throw err instanceof DriverError && err.code !== 'connect' ? err : failure(`the agent socket did not appear within ${timeout} ms`);
  }
  return ready(s, socket, new AgentClient(socket, socket, undefined, o.agent), t0, deadline);
}

/** Waits for the agent's first answer (unless it answered during a warm-up), then tells it what it needs first. */
async function ready(s: StartedQemu, socket: Socket, agent: AgentClient, t0: number, deadline: number): Promise<QemuVm> {
  const { o, proc, exited } = s;
  const failure = (what: string) => bootFailure(proc.pid, o.workDir, what);
  // QEMU creates both sockets before the guest runs, so QMP negotiates while the guest boots, off the critical path
  // (a restored clone's is the connection its state was loaded through)
  const qmpReady = s.qmp ? Promise.resolve<QmpClient>(s.qmp) : QmpClient.connect(join(o.workDir, 'qmp.sock'), { timeoutMs: Math.max(1_000, deadline - Date.now()) });
  qmpReady.catch(() => {});
  const abandon = () => {
    proc.kill('SIGKILL');
    void qmpReady.then((q) => q.close(), () => {});
  };
  const vmmMs = performance.now() - t0;
  try {
    await Promise.race([
      agent.waitReady(Math.max(1, deadline - Date.now())),
      exited.then((code) => { throw failure(`qemu exited with code ${code} while booting`); }),
    ]);
  } catch (err) {
    abandon();
    throw err instanceof DriverError ? err : failure(`the guest agent did not answer within ${o.bootTimeoutMs ?? 20_000} ms: ${(err as Error).message}`);
  }
  // clones of one VM image must not share randomness: every guest gets fresh entropy from the host first; a restored
  // clone also gets the wall-clock time (its clock is the template's) and a boot id of its own (/proc's is the template's)
  const told = o.restore
    ? agent.restored({ entropy: randomBytes(64), timeMs: Date.now(), bootId: o.restore.bootId })
    : agent.reseed(randomBytes(64));
  await told.catch((err) => {
    abandon();
    throw failure(`${o.restore ? 'telling the restored guest its time, entropy and id' : 'reseeding the guest RNG'} failed: ${(err as Error).message}`);
  });
  const readyMs = performance.now() - t0;
  const qmp = await qmpReady.catch((err) => {
    abandon();
    throw failure(`QMP did not come up: ${(err as Error).message}`);
  });
  const howExited = () => (proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with code ${proc.exitCode}`);
  return controlled({ pid: proc.pid!, proc, workDir: o.workDir, agent, socket, qmp, exited, howExited, readyMs, vmmMs });
}

/**
 * The warm-up's rehearsal: a process started and reaped the way a container's is (namespaces, spawn, exec, exit), in the
 * guest's own root so nothing is mounted, and released. '@' is in no container's name (a DNS label), so none meets it.
 */
const REHEARSAL = '@warm-up';

/**
 * Runs a restored clone until its agent answers on a connection of this process's, rehearses a container start, then
 * pauses it again: the guest's first answer and the kernel code a container start runs — translated once per QEMU
 * process under TCG, measured ~60 ms of a pooled pod's START_POD and first container start — are then behind it when
 * finishLaunch resumes it for a pod.
 */
export async function warmUp(s: StartedQemu): Promise<void> {
  const qmp = s.qmp;
  if (!qmp) throw new DriverError('state', 'only a restored VM is warmed up');
  const deadline = Date.now() + (s.o.bootTimeoutMs ?? 20_000);
  await qmp.execute('cont');
  const socket = await connectUnix(join(s.o.workDir, 'agent.sock'), deadline, () => (s.proc.exitCode !== null ? bootFailure(s.proc.pid, s.o.workDir, 'qemu exited while warming up') : null));
  const agent = new AgentClient(socket, socket, undefined, s.o.agent);
  try {
    await agent.waitReady(Math.max(1, deadline - Date.now()));
    await rehearse(agent, deadline);
    await qmp.execute('stop');
  } catch (err) {
    agent.close();
    throw err;
  }
  s.warm = { socket, agent };
}

/** A container start the guest forgets: the agent itself, asked for nothing it knows (it prints its usage and exits). */
async function rehearse(agent: AgentClient, deadline: number): Promise<void> {
  const exited = agent.waitExit(REHEARSAL);
  await agent.startContainer(REHEARSAL, { kind: 'host' }, { args: ['/init', '--rehearsal'], env: [], cwd: '/' });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      exited,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new DriverError('warm-up', 'the warm-up rehearsal did not exit in time')), Math.max(1, deadline - Date.now())))),
    ]);
  } finally {
    clearTimeout(timer);
  }
  // a durable agent keeps an exited process (and its output) until it is released; another may have done so already
  await agent.release(REHEARSAL).catch(() => {});
}

/** How often a migration's progress is asked for: device state of ~60 KB is saved or loaded in a few ms. */
const MIGRATION_POLL_MS = 2;

/** Waits for the migration QMP started (outgoing or incoming) to complete; `what` names it in errors. */
export async function migrationDone(qmp: QmpClient, deadline: number, what: string): Promise<void> {
  for (;;) {
    const m = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (m.status === 'completed') return;
    if (m.status === 'failed' || m.status === 'cancelled') throw new DriverError('migration', `${what} failed: ${m['error-desc'] ?? m.status}`);
    if (Date.now() > deadline) throw new DriverError('migration', `${what} did not complete in time (status ${m.status ?? 'none'})`);
    await new Promise((r) => setTimeout(r, MIGRATION_POLL_MS));
  }
}

/** Loads a template's saved device state into a QEMU started with `-incoming defer` (the guest stays paused). */
async function restoreState(qmp: QmpClient, stateFile: string, deadline: number): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
  // exec: QEMU reads the file through a pipe (a file: URI is QEMU 8's); the path is ours, quoted for the shell
  await qmp.execute('migrate-incoming', { uri: `exec:cat '${stateFile.replace(/'/g, `'\\''`)}'` });
  await migrationDone(qmp, deadline, `loading ${stateFile}`);
}

/**
 * Re-attaches to a QEMU a previous daemon started in `workDir`: checks that `pid` is that QEMU (by binary and work dir,
 * never anything else), connects QMP and the agent channel. The agent client hunts for frame boundaries (bytes of frames
 * torn by the old daemon's disconnect may come first); the caller resyncs it.
 */
export async function attachQemu(workDir: string, pid: number, o: { agent?: AgentClientOptions; timeoutMs?: number } = {}): Promise<QemuVm> {
  if (!isQemuOf(pid, workDir)) throw new DriverError('attach', `pid ${pid} is not the QEMU of ${workDir} (it exited, or the pid was reused)`);
  const deadline = Date.now() + (o.timeoutMs ?? 5_000);
  const qmp = await QmpClient.connect(join(workDir, 'qmp.sock'), { timeoutMs: Math.max(500, deadline - Date.now()) });
  let socket: Socket;
  try {
    socket = await connectUnix(join(workDir, 'agent.sock'), deadline);
  } catch (err) {
    qmp.close();
    throw new DriverError('attach', `cannot reach the agent socket of the QEMU in ${workDir}: ${(err as Error).message}`, { cause: err });
  }
  const agent = new AgentClient(socket, socket, undefined, { ...o.agent, hunt: true });
  const watch = { detached: false };
  // not our child: QEMU's end shows as its QMP socket closing (unless we closed it to detach), confirmed by /proc
  const exited = new Promise<number | null>((resolve) => {
    void qmp.closed.then(async () => {
      while (!watch.detached) if (await waitGone(pid, 1_000, 50)) return resolve(null);
    });
  });
  return controlled({ pid, proc: null, workDir, agent, socket, qmp, exited, howExited: () => `(pid ${pid}) exited`, readyMs: 0, vmmMs: 0, watch });
}

interface Parts {
  pid: number; proc: ChildProcess | null; workDir: string; agent: AgentClient; socket: Socket; qmp: QmpClient;
  exited: Promise<number | null>; howExited: () => string; readyMs: number; vmmMs: number; watch?: { detached: boolean };
}

/** The stop ladder and the rest of QemuVm, the same for a VM started here and one re-attached. */
function controlled(p: Parts): QemuVm {
  const { pid, agent, qmp, exited } = p;
  let gone = false;
  void exited.then(() => (gone = true));
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  };
  const ladder = async (graceMs: number): Promise<StopRung> => {
    if (gone) return 'exited';
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
    kill();
    await exited;
    return 'kill';
  };
  let stopping: Promise<StopRung> | null = null;
  const consoleLog = join(p.workDir, 'console.log');
  const vm: QemuVm = {
    pid, proc: p.proc, workDir: p.workDir, agent, qmp, pidFile: join(p.workDir, 'qemu.pid'), readyMs: p.readyMs, vmmMs: p.vmmMs,
    consoleLog, consoleTail: (lines = 20) => tailOf(consoleLog, lines), exited, stoppedBy: null, kill, howExited: p.howExited,
    stop(graceMs = 3_000) {
      stopping ??= ladder(graceMs).then((rung) => {
        vm.stoppedBy = rung;
        p.socket.destroy();
        qmp.close();
        return rung;
      });
      return stopping;
    },
    detach() {
      if (p.watch) p.watch.detached = true;
      p.socket.destroy();
      qmp.close();
    },
  };
  return vm;
}
