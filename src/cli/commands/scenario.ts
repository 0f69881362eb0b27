// `hyper scenario run FILE…`: runs scenario files against local clusters; exit code 0 only if every one passed.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseScenario, ScenarioError } from '../../scenarios/schema.js';
import { junit, runScenario, takeDownRunning, type ScenarioResult } from '../../scenarios/runner.js';
import { HyperError } from '../../errors.js';

export function registerScenario(program: Command): void {
  program
    .command('scenario')
    .description('declarative cluster scenarios (scenarios/*.yaml)')
    .command('run <files...>')
    .description('run scenario files, each on a fresh local cluster (root); prints a timeline; exit code 1 if any failed')
    .option('--junit <file>', 'also write JUnit XML there')
    .action(async (files: string[], o: { junit?: string }) => {
      // every file is checked before anything runs: a typo in the fifth should not cost the first four's minutes
      const parsed = files.map((f) => {
        try {
          return { file: f, sc: parseScenario(f, readFileSync(f, 'utf8')) };
        } catch (err) {
          if (err instanceof ScenarioError) throw new HyperError('invalid', `invalid scenario:\n${err.message}`);
          throw err;
        }
      });
      // stopped (^C, or a test's timeout): the cluster being played goes down with the run, not left in its namespaces
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          process.stdout.write(`\n${sig}: taking the running scenario's cluster down\n`);
          void takeDownRunning().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
        });
      }
      const results: ScenarioResult[] = [];
      for (const { file, sc } of parsed) {
        process.stdout.write(`${sc.name} (${file})\n`);
        const r = await runScenario(file, sc, (line) => process.stdout.write(line + '\n'));
        results.push(r);
        const resets = Object.entries(r.natsResets ?? {});
        if (r.storedTwice) process.stdout.write(`  NATS stored ${r.storedTwice} events twice under one id: each folded once\n`);
        if (resets.length) process.stdout.write(`  nats-server reset replicated state (nats-server #8057): ${resets.map(([k, n]) => `${k} ×${n}`).join(', ')}\n`);
        process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'} ${sc.name} in ${r.seconds.toFixed(1)} s${r.error ? `: ${r.error}` : ''}\n\n`);
      }
      if (o.junit) writeFileSync(o.junit, junit(results));
      const failed = results.filter((r) => !r.ok).length;
      process.stdout.write(`${results.length - failed} scenarios passed, ${failed} failed\n`);
      process.exitCode = failed ? 1 : 0;
    });
}
