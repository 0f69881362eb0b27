// `hyper exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] POD [-c CONTAINER] CMD…`: runs a command in a running pod's container,
// through the host that runs it (found in the folded view), over NATS; exits with the command's exit code.
import type { Command } from 'commander';
import { addressOf } from '../../events/schemas/subjects.js';
import { ValidationError } from '../../errors.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { cliActor } from '../intent.js';
import { ExecError, execSession } from '../exec-client.js';
import { reportExecError } from '../session-io.js';
import { hostProblem } from '../pod-host.js';

interface ExecFlags { interactive?: boolean; tty?: boolean; env: string[]; workdir?: string; user?: string; container?: string }

const collect = (v: string, all: string[]) => [...all, v];

export function registerExec(program: Command, globals: () => GlobalOptions): void {
  program
    .command('exec <pod> [command...]')
    .description('run a command in a running pod\'s container (-c, else its first); exits with the command\'s code')
    .option('-i, --interactive', 'keep stdin open and send it to the command')
    .option('-t, --tty', 'run the command on a terminal (raw mode here, window size followed)')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user to run as (names or ids of the container\'s /etc/passwd)')
    .option('-c, --container <name>', 'the container to run in (also accepted right after the pod)')
    .passThroughOptions()
    .action(async (ref: string, rest: string[], o: ExecFlags) => {
      // `hyper exec POD -c C CMD…` as well as `hyper exec -c C POD CMD…`
      let command = rest;
      let container = o.container;
      if (command[0] === '-c' || command[0] === '--container') {
        container = command[1];
        command = command.slice(2);
      }
      const issues: { path: string; message: string }[] = [];
      if (command.length === 0) issues.push({ path: 'command', message: 'give a command to run, e.g. hyper exec POD sh' });
      const env: Record<string, string> = {};
      o.env.forEach((kv, i) => {
        const eq = kv.indexOf('=');
        if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(kv.slice(0, eq))) issues.push({ path: `--env[${i}]`, message: `"${kv}" is not KEY=VALUE` });
        else env[kv.slice(0, eq)] = kv.slice(eq + 1);
      });
      if (issues.length) throw new ValidationError('exec', issues);
      const s = await openSession(globals());
      try {
        const view = await s.view();
        const pod = s.resolve(view, ref);
        const name = pod.context.name ?? pod.context.id;
        if (pod.state !== 'running' || !pod.context.host) throw new ExecError(`pod ${name} is not running (it is ${pod.state}): exec needs a running container — start it with hyper start ${name}`);
        const gone = hostProblem(view, pod, 'exec');
        if (gone) throw new ExecError(gone);
        const tty = Boolean(o.tty);
        if (tty && !process.stdin.isTTY) process.stderr.write('hyper: -t given but stdin is not a terminal: no raw mode here\n');
        process.exitCode = await execSession(s.nc, {
          host: pod.context.host,
          at: addressOf(pod.context),
          tenant: s.tenant,
          request: {
            container, command, env, workdir: o.workdir, user: o.user, tty, interactive: Boolean(o.interactive), by: cliActor(),
            ...(tty && process.stdout.rows ? { rows: process.stdout.rows, cols: process.stdout.columns } : {}),
          },
        });
      } catch (err) {
        reportExecError(err);
      } finally {
        await s.close();
      }
    });
}
