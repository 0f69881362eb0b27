// `docker exec` through the Engine API: an exec instance is made (POST /containers/ID/exec), started on a hijacked
// connection (its output as Docker's frames, raw with a tty; with -i the connection's input is its stdin, a half-close
// its EOF) through the same exec session the hyper CLI opens with the pod's host, resized (POST /exec/ID/resize), and
// inspected for its exit code afterwards (GET /exec/ID/json).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { addressOf, DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { execSession } from '../cli/exec-client.js';
import type { Control } from '../cli/session-io.js';
import { ApiError, type Lifecycle } from './lifecycle.js';
import type { PodRecord } from '../model/cluster-view.js';
import { frame } from './frames.js';
import { connectionInput, discard, ended, upgraded, windowSize } from './streams.js';

interface ExecInstance {
  id: string;
  pod: string;
  /** The container it runs in: the pod's only one, or the member the reference named. */
  container: string;
  command: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  /** The window size asked for before the session could take it, and what sends it once it can. */
  size?: { rows: number; cols: number };
  control?: Control;
  running: boolean;
  exitCode: number | null;
}

interface ExecBody { Cmd?: string[]; Env?: string[] | null; WorkingDir?: string; User?: string; Tty?: boolean; AttachStdin?: boolean; Privileged?: boolean; ConsoleSize?: [number, number] | null; Detach?: boolean }

export class DockerExecs {
  private readonly execs = new Map<string, ExecInstance>();

  constructor(private readonly nc: NatsConnection, private readonly life: Lifecycle) {}

  async create(ref: string, body: ExecBody): Promise<{ Id: string }> {
    const { rec, container } = await this.life.target(ref);
    if (rec.state !== 'running') throw new ApiError(409, `Container ${rec.context.id} is not running`);
    if (!body.Cmd?.length) throw new ApiError(400, 'Cmd: give a command to run');
    if (body.Privileged) throw new ApiError(400, 'docker exec --privileged is not supported by hyper: the container runs in a VM of its own');
    const env: Record<string, string> = {};
    for (const kv of body.Env ?? []) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { id, pod: rec.context.id, container, command: body.Cmd, env, workdir: body.WorkingDir || undefined, user: body.User || undefined, tty: Boolean(body.Tty), stdin: Boolean(body.AttachStdin), size: body.ConsoleSize ? windowSize(body.ConsoleSize[0], body.ConsoleSize[1]) ?? undefined : undefined, running: false, exitCode: null });
    return { Id: id };
  }

  private get(id: string): ExecInstance {
    const x = this.execs.get(id);
    if (!x) throw new ApiError(404, `No such exec instance: ${id}`);
    return x;
  }

  /** A new window size (docker's h and w): sent now if the session runs, else when it starts. */
  resize(id: string, h: number, w: number): void {
    const x = this.get(id);
    const size = windowSize(h, w);
    if (!size) throw new ApiError(400, 'h and w: give the window\'s height and width, both above 0');
    x.size = size;
    x.control?.('resize', size);
  }

  /**
   * Runs it, its output to the hijacked connection and (with -i) the connection's input to its stdin, `head` being what
   * the client sent after its request; the exit code is kept for inspect.
   */
  async start(id: string, socket: Socket, head: Buffer = Buffer.alloc(0), body: { Detach?: unknown } = {}): Promise<void> {
    const x = this.get(id);
    if (body.Detach) {
      await this.startDetached(id);
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const rec = await this.runnable(x);
    socket.write(upgraded(x.tty));
    const framed = (stream: 1 | 2) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (socket.destroyed) return cb();
          socket.write(x.tty ? chunk : frame(stream, chunk), () => cb());
        },
      });
    // the connection's input, from what came along with the request on; a half-close is the stdin's EOF
    const stdin: NodeJS.ReadableStream = x.stdin ? connectionInput(socket, head) : Readable.from([]);
    const out = framed(1);
    const err = framed(2);
    const failed = await this.run(x, rec, out, err, stdin);
    // the session is over once its output is written to the connection, not merely handed to these writables
    await Promise.all([ended(out), ended(err)]);
    if (failed && !socket.destroyed) socket.write(x.tty ? failed : frame(2, failed));
    socket.unpipe();
    socket.end();
  }

  /** docker exec -d: started, its output dropped (as docker's), its exit code kept for inspect. */
  async startDetached(id: string): Promise<void> {
    const x = this.get(id);
    const rec = await this.runnable(x);
    void this.run(x, rec, discard(), discard(), Readable.from([]));
  }

  private async runnable(x: ExecInstance): Promise<PodRecord> {
    if (x.running || x.exitCode !== null) throw new ApiError(409, `exec ${x.id} has already been started`);
    const { rec } = await this.life.target(x.pod);
    if (rec.state !== 'running' || !rec.context.host) throw new ApiError(409, `Container ${rec.context.id} is not running`);
    return rec;
  }

  /** The session with the pod's host; what went wrong on hyper's side, as a line for the client, or null. */
  private async run(x: ExecInstance, rec: PodRecord, stdout: Writable, stderr: Writable, stdin: NodeJS.ReadableStream): Promise<Buffer | null> {
    x.running = true;
    const asked = x.size;
    try {
      x.exitCode = await execSession(this.nc, {
        host: rec.context.host!,
        at: addressOf(rec.context),
        tenant: rec.context.tenant ?? DEFAULT_TENANT,
        request: { container: x.container, command: x.command, env: x.env, workdir: x.workdir, user: x.user, tty: x.tty, interactive: x.stdin, by: 'docker-api', ...(x.tty ? x.size : {}) },
        stdout,
        stderr,
        stdin,
        remote: {
          tty: x.tty,
          onControl: (c) => {
            x.control = c;
            // a resize that came while the session was being opened
            if (x.tty && x.size && x.size !== asked) c('resize', x.size);
          },
        },
      });
      return null;
    } catch (err) {
      x.exitCode = (err as { exitCode?: number }).exitCode ?? 126;
      return Buffer.from(`hyper: ${(err as Error).message}\n`);
    } finally {
      x.running = false;
      x.control = undefined;
    }
  }

  inspect(id: string): unknown {
    const x = this.get(id);
    return { ID: x.id, Running: x.running, ExitCode: x.exitCode, ContainerID: x.pod, OpenStdin: x.stdin, OpenStdout: true, OpenStderr: true, ProcessConfig: { entrypoint: x.command[0], arguments: x.command.slice(1), tty: x.tty, user: x.user ?? '', privileged: false }, Pid: 0 };
  }
}

