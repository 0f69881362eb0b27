// Every shipped scenario (scenarios/*.yaml) runs for real: `hyper scenario run` brings up a cluster in network namespaces
// for each, plays it, and must pass; a bad file is refused before anything runs, naming the line and field.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hyper } from '../harness/processes.js';

const dir = fileURLToPath(new URL('../../scenarios/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));

describe('hyper scenario run', () => {
  it('refuses an invalid file by line and field, running nothing', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'hyper-sc-')), 'bad.yaml');
    writeFileSync(bad, 'name: bad\ncluster: { hosts: 3, drivr: hollow }\nsteps:\n  - submit: { pods: 0 }\n  - wait: { running: 3, within: soon }\n');
    const r = await hyper(['scenario', 'run', bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: cluster: Unrecognized key: "drivr"`);
    expect(r.stderr).toContain(`${bad}:4: steps.0.submit.pods:`);
    expect(r.stderr).toContain(`${bad}:5: steps.1.wait.within: must be a duration`);
  });

  it(`passes every shipped scenario (${files.length}), with a JUnit report`, async () => {
    expect(files.length).toBeGreaterThanOrEqual(11);
    const report = join(mkdtempSync(join(tmpdir(), 'hyper-sc-')), 'junit.xml');
    const { execa } = await import('execa');
    // stopped before vitest's own timeout, so a run that overstays shows its timeline (and takes its cluster down on SIGTERM)
    const r = await execa('node', [fileURLToPath(new URL('../../bin/hyper.cjs', import.meta.url)), 'scenario', 'run', ...files, '--junit', report], { reject: false, timeout: 600_000, forceKillAfterDelay: 45_000, env: { HYPER_LOG_FORMAT: 'json' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${files.length} scenarios passed, 0 failed`));
    const xml = readFileSync(report, 'utf8');
    expect(xml).toMatch(new RegExp(`<testsuite name="hyper scenarios" tests="${files.length}" failures="0"`));
  }, 660_000);
});
