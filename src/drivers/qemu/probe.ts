// Accelerator probe: use KVM only if a probe guest really boots under it within a deadline (on some hosts /dev/kvm exists
// but standard kernels hang under it); otherwise software emulation. The verdict is cached per host, kernel and QEMU.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { launchQemu } from './launch.js';

export interface AccelVerdict {
  accel: 'kvm' | 'tcg';
  reason: string;
  /** ms the probe guest took to answer under KVM, when it did. */
  kvmBootMs?: number;
  probedAt: string;
  key: string;
  cached?: boolean;
}

export interface ProbeOptions {
  kernel: string;
  initrd: string;
  cacheFile: string;
  deadlineMs?: number;
  binary?: string;
}

function qemuVersion(binary: string): string {
  try {
    return execFileSync(binary, ['--version']).toString().split('\n')[0];
  } catch {
    return 'unknown';
  }
}

function cacheKey(o: ProbeOptions): string {
  const k = statSync(o.kernel);
  return createHash('sha256').update([o.kernel, k.size, k.mtimeMs, qemuVersion(o.binary ?? 'qemu-system-x86_64'), release()].join('|')).digest('hex').slice(0, 16);
}

export async function probeAccelerator(o: ProbeOptions): Promise<AccelVerdict> {
  const key = cacheKey(o);
  try {
    const cached = JSON.parse(readFileSync(o.cacheFile, 'utf8')) as AccelVerdict;
    if (cached.key === key) return { ...cached, cached: true };
  } catch {}
  const verdict = await decide(o, key);
  mkdirSync(dirname(o.cacheFile), { recursive: true });
  writeFileSync(o.cacheFile, JSON.stringify(verdict, null, 2));
  return verdict;
}

async function decide(o: ProbeOptions, key: string): Promise<AccelVerdict> {
  const base = { probedAt: new Date().toISOString(), key };
  if (!existsSync('/dev/kvm')) return { ...base, accel: 'tcg', reason: '/dev/kvm does not exist (no hardware virtualization here): using software emulation' };
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (err) {
    return { ...base, accel: 'tcg', reason: `cannot open /dev/kvm (${(err as NodeJS.ErrnoException).code}): add this user to the kvm group; using software emulation` };
  }
  const deadline = o.deadlineMs ?? 4_000;
  const workDir = join(dirname(o.cacheFile), `probe-${process.pid}`);
  try {
    const vm = await launchQemu({ kernel: o.kernel, initrd: o.initrd, workDir, accel: 'kvm', bootTimeoutMs: deadline, binary: o.binary });
    const kvmBootMs = Math.round(vm.readyMs);
    await vm.stop(1_000);
    return { ...base, accel: 'kvm', kvmBootMs, reason: `a probe guest booted under KVM in ${kvmBootMs} ms` };
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    return { ...base, accel: 'tcg', reason: `/dev/kvm exists but a probe guest did not boot under it within ${deadline} ms (${first}); some nested KVMs (e.g. kvm-pvm) hang standard kernels: using software emulation` };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
