// bench/guest-boot: boot to agent-ready under QEMU (TCG unless --kvm), guest memory used after ready, image sizes; prints JSON.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchQemu } from '../src/drivers/qemu/launch.js';
import { guestInitrd, guestKernel } from '../src/guest/artifacts.js';
import { progress } from './lib/env.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;
const accel = process.argv.includes('--kvm') ? 'kvm' : 'tcg';
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const ready: number[] = [];
const used: number[] = [];
const uptime: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'hyper-bench-boot-'));
  const vm = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: dir, accel, memoryMb: 128 });
  const s = await vm.agent.stats();
  ready.push(vm.readyMs);
  used.push((s.memTotal! - s.memAvailable!) / 1024 / 1024);
  uptime.push(s.uptimeMs!);
  await vm.stop();
  rmSync(dir, { recursive: true, force: true });
  progress(`boot ${i + 1}/${runs}: ready in ${Math.round(vm.readyMs)} ms, ${used.at(-1)!.toFixed(1)} MB used`);
}
const kernel = guestKernel();
const bz = join(kernel, '..', 'bzImage');
process.stdout.write(
  JSON.stringify(
    {
      bench: 'guest-boot',
      at: new Date().toISOString(),
      accel,
      runs,
      bootToAgentReadyMs: { p50: Math.round(pct(ready, 50)), p95: Math.round(pct(ready, 95)), min: Math.round(Math.min(...ready)), target: 500 },
      guestUptimeAtFirstStatsMs: { p50: pct(uptime, 50) },
      guestMemoryUsedMb: { p50: +pct(used, 50).toFixed(2), max: +Math.max(...used).toFixed(2), target: 8, vmMemoryMb: 128 },
      sizes: { initramfsBytes: statSync(guestInitrd()).size, vmlinuxBytes: statSync(kernel).size, bzImageBytes: statSync(bz).size },
    },
    null,
    2,
  ) + '\n',
);
