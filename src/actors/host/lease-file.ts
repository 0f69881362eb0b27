// The lease file: where the lease worker tells processes that outlive the daemon (the QEMU driver's fence guard) until
// when this host's lease holds, on the machine's monotonic clock, and whether anyone else could take its pods over.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LEASE_FILE_FORMAT = 1;

export interface LeaseFile {
  format: typeof LEASE_FILE_FORMAT;
  /** The daemon that renews the lease. */
  pid: number;
  /**
   * monoNow() after which this host must have stopped its VMs: the last acknowledged renewal's send time + lease − margin,
   * the moment the daemon itself fences. CLOCK_MONOTONIC is one clock for every process of the machine.
   */
  fenceAt: number;
  /** Another host is up and would declare this one lost and take its pods over; if not, nothing needs fencing. */
  armed: boolean;
}

export const leaseFileOf = (dataDir: string) => join(dataDir, 'lease.json');

export function writeLeaseFile(path: string, l: Omit<LeaseFile, 'format'>): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: LEASE_FILE_FORMAT, ...l }));
  renameSync(tmp, path);
}

/** The lease file's content, or null if there is none, or it is of a format this build does not know. */
export function readLeaseFile(path: string): LeaseFile | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as LeaseFile;
    return v.format === LEASE_FILE_FORMAT && typeof v.pid === 'number' && typeof v.fenceAt === 'number' && typeof v.armed === 'boolean' ? v : null;
  } catch {
    return null;
  }
}
