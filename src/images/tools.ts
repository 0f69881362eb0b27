// Runs the well-kept tools the image store stands on (skopeo, umoci, mkfs.erofs) and turns their failures into errors a user can act on.
import { execa } from 'execa';
import { ImageError } from '../errors.js';

const PACKAGE: Record<string, string> = { skopeo: 'skopeo', umoci: 'umoci', 'mkfs.erofs': 'erofs-utils', tar: 'tar' };

export interface RunOptions {
  /** Let the tool draw on the terminal (skopeo's progress bars); otherwise its output is captured. */
  inherit?: boolean;
  input?: string;
}

/** Runs `cmd args`; resolves with stdout, or throws an ImageError naming the tool, the task and the tool's last words. */
export async function runTool(cmd: string, args: string[], task: string, o: RunOptions = {}): Promise<string> {
  try {
    const r = await execa(cmd, args, {
      stdin: o.input !== undefined ? 'pipe' : 'ignore',
      input: o.input,
      // skopeo draws its progress bars on stdout, and only when that is a terminal
      stdout: o.inherit ? 'inherit' : 'pipe',
      // still captured when shown, so a failure's message can quote the tool
      stderr: o.inherit ? ['pipe', 'inherit'] : 'pipe',
      encoding: 'utf8',
      // byte-exact: a manifest's digest covers its final newline
      stripFinalNewline: false,
      maxBuffer: 256 * 1024 * 1024,
    });
    return typeof r.stdout === 'string' ? r.stdout : '';
  } catch (err) {
    const e = err as { code?: string; stderr?: string; stdout?: string; exitCode?: number; signal?: string };
    if (e.code === 'ENOENT') throw new ImageError('missing-tool', `cannot ${task}: ${cmd} is not installed — install it with: apt-get install ${PACKAGE[cmd] ?? cmd}`);
    const said = toolMessage(e.stderr || e.stdout || '');
    throw new ImageError('tool', `cannot ${task}: ${explain(said)}`, { cause: err });
  }
}

/** skopeo and umoci log through logrus: keep the `msg="…"` of the last line, unquoted; other tools: their last three lines. */
export function toolMessage(output: string): string {
  const lines = output.trim().split('\n').filter(Boolean);
  const last = lines.at(-1) ?? '(no output)';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  const msg = m ? m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\') : lines.length ? lines.slice(-3).join('; ') : last;
  // skopeo prefixes what it was doing, which repeats our own words: keep the cause
  return msg.replace(/^Error parsing image name "[^"]*": /, '').replace(/^initializing source \S+: /, '');
}

/** Adds what to try for the failures people hit most (registry unreachable, no such image, credentials, plain HTTP). */
export function explain(msg: string): string {
  if (/connection refused|no such host|i\/o timeout|network is unreachable|dial tcp/.test(msg)) {
    return `${msg} — the registry is unreachable: check the name and port, and that it is up`;
  }
  if (/server gave HTTP response to HTTPS client|http: server gave HTTP response/.test(msg)) {
    return `${msg} — the registry speaks plain HTTP: pass --insecure (or start hyperd with --insecure-registry HOST:PORT)`;
  }
  if (/manifest unknown|name unknown|not found|404/i.test(msg)) return `${msg} — no such image or tag in that registry`;
  if (/unauthorized|authentication required|denied|401|403/i.test(msg)) {
    return `${msg} — the registry wants credentials: run hyper login REGISTRY (or check ~/.docker/config.json / $REGISTRY_AUTH_FILE)`;
  }
  if (/certificate|x509|tls/i.test(msg)) return `${msg} — TLS verification failed: pass --insecure for a registry with a self-signed certificate`;
  return msg;
}
