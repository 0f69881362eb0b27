// `docker exec` through the Engine API: an exec instance is made (POST /containers/ID/exec), started on a hijacked
// connection (its output as Docker's frames, raw with a tty) through the same exec session the hyper CLI opens with the
// pod's host, and inspected for its exit code afterwards (GET /exec/ID/json).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { addressOf, DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { execSession } from '../cli/exec-client.js';
import { ApiError, type Lifecycle } from './lifecycle.js';
import { frame } from './frames.js';

interface ExecInstance {
  id: string;
  pod: string;
  command: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  tty: boolean;
  running: boolean;
  exitCode: number | null;
}

interface ExecBody { Cmd?: string[]; Env?: string[] | null; WorkingDir?: string; User?: string; Tty?: boolean; AttachStdin?: boolean; Privileged?: boolean }

export class DockerExecs {
  private readonly execs = new Map<string, ExecInstance>();

  constructor(private readonly nc: NatsConnection, private readonly life: Lifecycle) {}

  async create(ref: string, body: ExecBody): Promise<{ Id: string }> {
    const rec = await this.life.pod(ref);
    if (rec.state !== 'running') throw new ApiError(409, `Container ${rec.context.id} is not running`);
    if (!body.Cmd?.length) throw new ApiError(400, 'Cmd: give a command to run');
    if (body.Privileged) throw new ApiError(400, 'docker exec --privileged is not supported by hyper: the container runs in a VM of its own');
    if (body.AttachStdin) throw new ApiError(501, 'docker exec -i (stdin) is not served by hyperd yet: use hyper exec -i');
    const env: Record<string, string> = {};
    for (const kv of body.Env ?? []) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { id, pod: rec.context.id, command: body.Cmd, env, workdir: body.WorkingDir || undefined, user: body.User || undefined, tty: Boolean(body.Tty), running: false, exitCode: null });
    return { Id: id };
  }

  private get(id: string): ExecInstance {
    const x = this.execs.get(id);
    if (!x) throw new ApiError(404, `No such exec instance: ${id}`);
    return x;
  }

  /** Runs it, its output to the hijacked connection; the exit code is kept for inspect. */
  async start(id: string, socket: Socket): Promise<void> {
    const x = this.get(id);
    const rec = await this.life.pod(x.pod);
    if (rec.state !== 'running' || !rec.context.host) throw new ApiError(409, `Container ${rec.context.id} is not running`);
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${x.tty ? 'raw' : 'multiplexed'}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    const framed = (stream: 1 | 2) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (socket.destroyed) return cb();
          socket.write(x.tty ? chunk : frame(stream, chunk), () => cb());
        },
      });
    x.running = true;
    try {
      x.exitCode = await execSession(this.nc, {
        host: rec.context.host,
        at: addressOf(rec.context),
        tenant: rec.context.tenant ?? DEFAULT_TENANT,
        request: { container: rec.context.spec?.containers[0]?.name, command: x.command, env: x.env, workdir: x.workdir, user: x.user, tty: x.tty, interactive: false, by: 'docker-api' },
        stdout: framed(1),
        stderr: framed(2),
        stdin: Readable.from([]),
      });
    } catch (err) {
      x.exitCode = 126;
      const msg = Buffer.from(`hyper: ${(err as Error).message}\n`);
      if (!socket.destroyed) socket.write(x.tty ? msg : frame(2, msg));
    } finally {
      x.running = false;
      socket.end();
    }
  }

  inspect(id: string): unknown {
    const x = this.get(id);
    return { ID: x.id, Running: x.running, ExitCode: x.exitCode, ContainerID: x.pod, OpenStdin: false, OpenStdout: true, OpenStderr: true, ProcessConfig: { entrypoint: x.command[0], arguments: x.command.slice(1), tty: x.tty, user: x.user ?? '', privileged: false }, Pid: 0 };
  }
}
