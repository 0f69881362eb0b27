// A new pod's id: 12 hex digits (48 random bits), as short as docker's shown ids.
import { randomBytes } from 'node:crypto';

export function newPodId(): string {
  return randomBytes(6).toString('hex');
}
