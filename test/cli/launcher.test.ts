// bin/hyper.cjs, what users run: the bundled CLI with a V8 code cache per command, the same answers as the unbundled
// build, a cache that a corrupted file cannot break, and the unbundled CLI when there is no bundle.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../harness/processes.js';
import { VERSION } from '../../src/version.js';

const root = new URL('../../', import.meta.url).pathname;
const run = (args: string[], env: Record<string, string> = {}) => spawnSync('node', [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });

describe('bin/hyper.cjs', () => {
  it('prints what the unbundled CLI prints, and keeps a code cache per command', () => {
    const cache = mkdtempSync(join(tmpdir(), 'hyper-cli-cache-'));
    const env = { XDG_CACHE_HOME: cache };
    expect(run(['--version'], env).stdout.trim()).toBe(VERSION);
    const help = run(['--help'], env).stdout;
    expect(help).toBe(execFileSync('node', [join(root, 'dist/src/cli/main.js'), '--help'], { encoding: 'utf8' }));
    expect(help).toContain('cp [options] <src> <dest>');
    expect(run(['exec', '--help'], env).stdout).toContain('Usage: hyper exec');
    const bad = run(['cp', 'a', 'b'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('one side must be POD:PATH');
    const dirs = [join(root, 'dist/cli/cache'), join(cache, 'hyper/cli')];
    const names = dirs.flatMap((d) => { try { return readdirSync(d); } catch { return []; } });
    for (const c of ['none', 'exec', 'cp']) expect(names.some((n) => n.startsWith(`${c}-`) && n.endsWith('.v8'))).toBe(true);
    rmSync(cache, { recursive: true, force: true });
  });

  it('a corrupted cache is rejected by V8 and written again', () => {
    const dir = join(root, 'dist/cli/cache');
    run(['version', '--help']);
    for (const f of readdirSync(dir).filter((n) => n.startsWith('version-'))) writeFileSync(join(dir, f), 'garbage');
    const r = run(['version', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: hyper version');
  });

  it('without a bundle it runs the CLI as tsc built it', () => {
    const tree = mkdtempSync(join(tmpdir(), 'hyper-nobundle-'));
    mkdirSync(join(tree, 'bin'));
    copyFileSync(join(root, 'bin/hyper.cjs'), join(tree, 'bin/hyper.cjs'));
    mkdirSync(join(tree, 'dist'));
    execFileSync('ln', ['-s', join(root, 'dist/src'), join(tree, 'dist/src')]);
    execFileSync('ln', ['-s', join(root, 'node_modules'), join(tree, 'node_modules')]);
    copyFileSync(join(root, 'package.json'), join(tree, 'package.json'));
    const r = spawnSync('node', [join(tree, 'bin/hyper.cjs'), '--version'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(VERSION);
    rmSync(tree, { recursive: true, force: true });
  });
});
