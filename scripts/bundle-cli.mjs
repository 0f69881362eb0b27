#!/usr/bin/env node
// Bundles the CLI (after tsc) into one CommonJS file, dist/cli/cli.cjs, that bin/hyper.cjs loads with V8's code cache:
// one file to read instead of hundreds of modules to resolve, and command modules initialised only when their command
// runs. pino is left out (its pretty transport runs a worker from its own files); the daemon is never bundled.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outfile = `${root}dist/cli/cli.cjs`;
rmSync(`${root}dist/cli`, { recursive: true, force: true });
const result = await build({
  entryPoints: [`${root}dist/src/cli/main.js`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  charset: 'ascii', // read as latin1, never decoded
  external: ['pino', 'pino-pretty', 'thread-stream'],
  define: { 'import.meta.url': '__hyper_url' },
  banner: { js: "var __hyper_url=require('url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  metafile: true,
});
// the launcher wraps the source in a function: a leading #! would be a syntax error there
writeFileSync(outfile, readFileSync(outfile, 'latin1').replace(/^#![^\n]*\n/, ''), 'latin1');
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
if (process.env.HYPER_BUNDLE_VERBOSE) process.stdout.write(`dist/cli/cli.cjs: ${(bytes / 1e6).toFixed(2)} MB\n`);
