// The CLI loads only the module of the command being run: the table that says which module registers which command must
// match what each module really registers, and the command's name is found past the root options and their values.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { COMMAND_MODULES, commandName, VALUED } from '../../src/cli/command-table.js';

describe('command table', () => {
  it('each module registers exactly the commands the table names for it, and no command is in two', async () => {
    const all: string[] = [];
    for (const [names, load] of COMMAND_MODULES) {
      const program = new Command('hyper').enablePositionalOptions();
      (await load())(program, () => ({}));
      expect(program.commands.map((c) => c.name())).toEqual(names);
      all.push(...names);
    }
    expect(new Set(all).size).toBe(all.length);
  });

  it('finds the command after root options with values', () => {
    expect(commandName(['ps'])).toBe('ps');
    expect(commandName(['--nats', 'nats://x:4222', '-o', 'json', 'ps', '-a'])).toBe('ps');
    expect(commandName(['--tenant', 'ana', '--all-tenants'])).toBeUndefined();
    expect(commandName(['-v'])).toBeUndefined();
    expect(commandName(['--data-dir', '/tmp/d', 'exec', 'web', 'ls'])).toBe('exec');
  });

  it('bin/hyper.cjs skips the same root options with values when it picks a command\'s code cache', () => {
    const launcher = readFileSync(new URL('../../bin/hyper.cjs', import.meta.url), 'utf8');
    const list = /const valued = new Set\((\[[^\]]*\])\)/.exec(launcher)![1];
    expect(new Set(JSON.parse(list.replace(/'/g, '"')))).toEqual(VALUED);
  });
});
