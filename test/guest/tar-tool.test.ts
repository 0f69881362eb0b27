// The agent's built-in tar tools (hyper cp) against GNU tar, run on the host with `hyper-agent --tool`: what tar-out writes
// GNU tar reads back identically (long names through pax), what GNU tar writes in its own and pax formats tar-in extracts
// identically, docker cp's destination rule, and a hostile or broken stream refused without writing outside DEST.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

/** Built by npm test (npm run build:guest) before any test runs. */
const agent = new URL('../../guest-agent/build/hyper-agent', import.meta.url).pathname;
let root = '';
let src = '';

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = relative(dir, p) || '.';
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      if (rel !== '.') out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
      for (const e of readdirSync(p)) walk(join(p, e));
    } else if (st.isFIFO()) out[rel] = 'fifo';
    else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  walk(dir);
  return out;
}

const tool = (args: string[], input?: Buffer) => spawnSync(agent, ['--tool', ...args], { input, maxBuffer: 1 << 28 });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hyper-tar-'));
  src = join(root, 'src');
  const long = join(src, 'l'.repeat(150), 'm'.repeat(120));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'n'.repeat(101)), 'deep\n');
  writeFileSync(join(src, 'blob'), randomBytes(1_000_003));
  writeFileSync(join(src, 'empty'), '');
  writeFileSync(join(src, 'exe'), '#!/bin/sh\n', { mode: 0o750 });
  symlinkSync('l'.repeat(150), join(src, 'to-long'));
  execFileSync('mkfifo', [join(src, 'pipe')]);
});

describe('tar-out', () => {
  it('writes a stream GNU tar extracts to the same tree, long names included', () => {
    const r = tool(['tar-out', root, 'src']);
    expect(r.status).toBe(0);
    const out = join(root, 'out1');
    mkdirSync(out);
    execFileSync('tar', ['-x', '-C', out], { input: r.stdout });
    expect(tree(join(out, 'src'))).toEqual(tree(src));
  });

  it('NAME "." gives the contents; a missing path is exit 2 with the path', () => {
    const r = tool(['tar-out', src, '.']);
    expect(execFileSync('tar', ['-t'], { input: r.stdout }).toString().split('\n')).toContain('./blob');
    const missing = tool(['tar-out', '/', 'no-such-thing']);
    expect(missing.status).toBe(2);
    expect(missing.stderr.toString()).toBe('/no-such-thing: No such file or directory\n');
  });
});

describe('tar-in', () => {
  it.each(['gnu', 'oldgnu', 'pax'])('extracts what GNU tar writes in %s format', (format) => {
    const archive = execFileSync('tar', ['-c', `--format=${format}`, '-C', root, 'src'], { maxBuffer: 1 << 28 });
    const dest = join(root, `in-${format}`);
    const r = tool(['tar-in', dest], archive); // missing: src becomes dest
    expect(r.status).toBe(0);
    expect(tree(dest)).toEqual(tree(src));
  });

  it('an existing directory takes the entry inside it; "./" contents fill a new directory', () => {
    const dest = join(root, 'exists');
    mkdirSync(dest);
    expect(tool(['tar-in', dest], execFileSync('tar', ['-c', '-C', root, 'src'], { maxBuffer: 1 << 28 })).status).toBe(0);
    expect(existsSync(join(dest, 'src', 'blob'))).toBe(true);
    const flat = join(root, 'flat');
    expect(tool(['tar-in', flat], execFileSync('tar', ['-c', '-C', src, '.'], { maxBuffer: 1 << 28 })).status).toBe(0);
    expect(tree(flat)).toEqual(tree(src));
  });

  it('refuses ".." entries, garbage and a directory over a file, writing nothing outside DEST', () => {
    const evil = join(root, 'evil');
    mkdirSync(join(evil, 'x'), { recursive: true });
    writeFileSync(join(evil, 'payload'), 'owned\n');
    const archive = execFileSync('tar', ['-c', '-C', join(evil, 'x'), '--absolute-names', '../payload']);
    const dest = join(root, 'safe');
    mkdirSync(dest);
    const r = tool(['tar-in', dest], archive);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toContain('climbs out with ".."');
    expect(existsSync(join(root, 'payload'))).toBe(false);
    const junk = tool(['tar-in', dest], Buffer.from('not a tar at all\n'.repeat(40)));
    expect(junk.status).toBe(2);
    expect(junk.stderr.toString()).toContain('not a tar stream');
    writeFileSync(join(root, 'afile'), 'x');
    const over = tool(['tar-in', join(root, 'afile')], execFileSync('tar', ['-c', '-C', root, 'src'], { maxBuffer: 1 << 28 }));
    expect(over.status).toBe(2);
    expect(over.stderr.toString()).toContain('cannot overwrite non-directory');
    expect(tool(['tar-in', '/no/such/dir/x'], Buffer.alloc(1024)).stderr.toString()).toBe('/no/such/dir: no such directory\n');
  });
});
