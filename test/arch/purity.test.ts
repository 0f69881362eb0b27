// Replay is pure: the machine, its fold, the schemas and projections import no node built-ins, no NATS and no drivers (checked on the source).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../src/', import.meta.url).pathname;
const pure = ['actors/pod/machine.ts', 'actors/pod/context.ts', 'actors/pod/fold.ts', 'actors/scheduler/place.ts', 'events/projections', 'events/schemas'];

function files(p: string): string[] {
  const abs = join(root, p);
  return statSync(abs).isDirectory() ? readdirSync(abs).flatMap((f) => files(join(p, f))) : [p];
}

describe('pure modules', () => {
  for (const file of pure.flatMap(files)) {
    it(`${file} imports nothing with effects`, () => {
      const src = readFileSync(join(root, file), 'utf8');
      const imports = [...src.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
      for (const i of imports) {
        expect(i, `${file} imports ${i}`).not.toMatch(/^node:|^@nats-io|\/drivers\/|\/store\/|\/live|pino|execa/);
      }
      expect(src, `${file} reads the clock or randomness`).not.toMatch(/Date\.now\(|Math\.random\(|performance\.now\(|setTimeout\(|setInterval\(/);
    });
  }
});
