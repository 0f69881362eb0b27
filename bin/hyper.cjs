#!/usr/bin/env node
// The hyper command: loads the bundled CLI (dist/cli/cli.cjs, made by npm run build) with a V8 code cache per subcommand,
// so each run compiles almost nothing; without a bundle it runs the CLI as tsc built it.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');
const os = require('os');

const root = path.join(__dirname, '..');
const bundle = path.join(root, 'dist', 'cli', 'cli.cjs');

/**
 * The subcommand (first word that is not an option or a root option's value): each has a cache of what it compiles.
 * The same reading as src/cli/command-table.ts's commandName (a test keeps the option lists equal): this file runs before
 * the bundle is loaded, so it cannot share the code.
 */
function subcommand(args) {
  const valued = new Set(['--nats', '--data-dir', '-o', '--output', '--creds', '--tenant', '--tls-ca']);
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('-')) return /^[a-z-]{1,32}$/.test(args[i]) ? args[i] : 'other';
    if (valued.has(args[i])) i++;
  }
  return 'none';
}

function cacheDirs() {
  const user = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'hyper', 'cli');
  return [path.join(root, 'dist', 'cli', 'cache'), user];
}

function run() {
  let source, st;
  try {
    st = fs.statSync(bundle);
    source = fs.readFileSync(bundle, 'latin1');
  } catch {
    return import(require('url').pathToFileURL(path.join(root, 'dist', 'src', 'cli', 'main.js')).href);
  }
  const key = `${subcommand(process.argv.slice(2))}-${process.version}-${st.size}-${Math.floor(st.mtimeMs)}.v8`;
  let cachedData;
  for (const d of cacheDirs()) {
    try {
      cachedData = fs.readFileSync(path.join(d, key));
      break;
    } catch {}
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  globalThis.__hyperImport = (url) => import(url); // the bundle's only dynamic import (the daemon, unbundled)
  if (!cachedData || script.cachedDataRejected) {
    // written once the command is done, with every function it compiled; atomically, as runs may race
    process.once('exit', () => {
      const data = script.createCachedData();
      for (const d of cacheDirs()) {
        try {
          fs.mkdirSync(d, { recursive: true });
          const tmp = path.join(d, `${key}.${process.pid}.tmp`);
          fs.writeFileSync(tmp, data);
          fs.renameSync(tmp, path.join(d, key));
          return;
        } catch {}
      }
    });
  }
  const m = { exports: {} };
  script.runInThisContext()(m.exports, Module.createRequire(bundle), m, bundle, path.dirname(bundle));
}

/**
 * A whole log folded from its first event (hyper audit, or an exported trail: --file) allocates a few short-lived objects
 * per event: 64 MB young-generation semi-spaces scavenge far less (see src/daemon/main.ts). Everything else reads a
 * snapshot and a short tail, whose objects mostly live on, and there the large semi-spaces only copy them once more
 * (measured, hyper state --seq at 104,000 pods: 1.90 s with 64 MB, 1.51 s with V8's default).
 */
function foldsWholeLog(args) {
  return subcommand(args) === 'audit' || args.includes('--file');
}

if (foldsWholeLog(process.argv.slice(2))) require('v8').setFlagsFromString('--max-semi-space-size=64');
run();
