// Drivers by name: the daemon's --driver flag picks one; each backend lives in its own folder.
import { HyperError } from '../errors.js';
import type { Driver } from './driver.js';
import { HollowDriver, type HollowOptions } from './hollow/driver.js';

export const DRIVERS = ['hollow'] as const;

export function createDriver(name: string, opts: { hollow?: HollowOptions } = {}): Driver {
  switch (name) {
    case 'hollow':
      return new HollowDriver(opts.hollow);
    default:
      throw new HyperError('driver', `unknown driver "${name}": this build has ${DRIVERS.join(', ')} (the QEMU driver arrives with the guest kernel and agent)`);
  }
}
