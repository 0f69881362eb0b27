// The fence guard process (fencing.ts): `node fence-guard.js RUN_DIR LEASE_FILE`. Polls the lease file on the machine's
// monotonic clock; past an armed deadline it kills every QEMU of RUN_DIR; exits once no daemon renews and no VM is left.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLeaseFile } from '../../actors/host/lease-file.js';
import { monoNow } from '../../actors/host/lease-protocol.js';
import { fenceAll, GUARD_PID_FILE, liveVms } from './fencing.js';

const [runDir, leaseFile] = process.argv.slice(2);
if (!runDir || !leaseFile) {
  process.stderr.write('usage: fence-guard.js RUN_DIR LEASE_FILE\n');
  process.exit(2);
}
const POLL_MS = 50;
const say = (msg: string, extra: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ time: Date.now(), pid: process.pid, msg, ...extra }) + '\n');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

writeFileSync(join(runDir, GUARD_PID_FILE), `${process.pid}\n`);
say('fence guard started', { runDir, leaseFile });
let fencedFor = -1;
let idleChecks = 0;
setInterval(() => {
  const l = readLeaseFile(leaseFile);
  const now = monoNow();
  if (l?.armed && now > l.fenceAt && fencedFor !== l.fenceAt) {
    fencedFor = l.fenceAt;
    const killed = fenceAll(runDir, `the host's lease was not renewed for ${Math.round(now - l.fenceAt)} ms past its fence deadline (hyperd pid ${l.pid} ${alive(l.pid) ? 'cut off' : 'gone'})`);
    say('fenced: the lease ran out, every VM stopped', { killed, lateMs: Math.round(now - l.fenceAt) });
  }
  // nothing left to guard: no daemon renewing and no VM running (checked once a second, not every poll)
  if (++idleChecks % 20 === 0 && !(l && alive(l.pid)) && liveVms(runDir).length === 0) {
    say('no daemon and no VM left: exiting');
    process.exit(0);
  }
}, POLL_MS);
