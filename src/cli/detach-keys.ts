// docker's detach keys (default Ctrl-P Ctrl-Q): parsed from its --detach-keys form, and found in what the user types. Pure.
import { ValidationError } from '../errors.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** "ctrl-p,ctrl-q" → [0x10, 0x11]: each key a single character or ctrl-<a-z, @, [, \, ], ^, _>, as docker accepts. */
export function parseDetachKeys(spec: string): number[] {
  const bad = (why: string) => new ValidationError('detach keys', [{ path: '--detach-keys', message: `"${spec}": ${why} (e.g. ctrl-p,ctrl-q or ctrl-a,d)` }]);
  if (!spec) throw bad('give at least one key');
  return spec.split(',').map((k) => {
    if (k.length === 1) return k.charCodeAt(0);
    const m = /^ctrl-(.)$/i.exec(k);
    if (!m) throw bad(`"${k}" is neither one character nor ctrl-<key>`);
    const c = m[1].toLowerCase();
    if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
    const i = '@[\\]^_'.indexOf(c);
    if (i < 0) throw bad(`ctrl-${c} is not a control key`);
    return i === 0 ? 0 : 27 + i - 1;
  });
}

/**
 * Watches typed bytes for the sequence. A prefix of it is held back until the next byte says whether it was the sequence
 * (then nothing of it is sent, and the session detaches) or not (then it is sent, as docker's escape proxy does).
 */
export class DetachMatcher {
  private matched = 0;

  constructor(private readonly keys: number[]) {}

  push(input: Buffer): { data: Buffer; stop: boolean } {
    const out: number[] = [];
    for (const b of input) {
      if (b === this.keys[this.matched]) {
        if (++this.matched === this.keys.length) return { data: Buffer.from(out), stop: true };
        continue;
      }
      // a partial match that did not go on: its bytes were typed, so they are sent (and this byte may start a new one)
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]);
      this.matched = 0;
      if (b === this.keys[0]) this.matched = 1;
      else out.push(b);
    }
    return { data: Buffer.from(out), stop: false };
  }
}
