// Builds a pod spec from CLI flags or a pod file (-f, YAML or JSON) and validates it, naming each bad field; nothing is published on error.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../errors.js';
import { parseDuration } from '../duration.js';
import { issuesOf, PodSpec } from '../events/schemas/mod.js';
import { parsePublish } from './port-flags.js';

export interface SpecFlags {
  file?: string;
  name?: string;
  env?: string[];
  label?: string[];
  cpus?: string;
  memory?: string;
  restart?: string;
  waitTimeout?: string;
  workdir?: string;
  user?: string;
  tty?: boolean;
  interactive?: boolean;
  entrypoint?: string;
  publish?: string[];
  volume?: string[];
  network?: string;
  dns?: string[];
  dnsSearch?: string[];
}

/** Numbers from flags stay strings when they are not numbers, so the schema names the field and the bad value. */
function num(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  return /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;
}

function pairs(list: string[] | undefined, flag: string, issues: { path: string; message: string }[]): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  list.forEach((kv, i) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) issues.push({ path: `${flag}[${i}]`, message: `"${kv}" is not KEY=VALUE` });
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  });
  return out;
}

export function buildSpec(flags: SpecFlags, image: string | undefined, cmd: string[]): PodSpec {
  const issues: { path: string; message: string }[] = [];
  let raw: Record<string, unknown>;
  if (flags.file) {
    if (image) issues.push({ path: 'IMAGE', message: 'give either -f FILE or an IMAGE, not both' });
    let text: string;
    try {
      text = readFileSync(flags.file, 'utf8');
    } catch (err) {
      throw new ValidationError(`pod file ${flags.file}`, [{ path: '', message: (err as Error).message }]);
    }
    try {
      raw = parseYaml(text) as Record<string, unknown>;
    } catch (err) {
      throw new ValidationError(`pod file ${flags.file}`, [{ path: '', message: `not YAML or JSON: ${(err as Error).message}` }]);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ValidationError(`pod file ${flags.file}`, [{ path: '', message: 'must be an object with a containers list' }]);
  } else {
    if (!image) issues.push({ path: 'IMAGE', message: 'name an image to run (or give a pod file with -f)' });
    raw = {
      containers: [
        {
          name: 'main',
          image: image ?? '',
          // Docker's semantics: what follows the image replaces its Cmd; --entrypoint replaces its Entrypoint
          ...(cmd.length ? { args: cmd } : {}),
          ...(flags.entrypoint !== undefined ? { command: flags.entrypoint === '' ? [] : [flags.entrypoint] } : {}),
          ...(flags.workdir ? { workdir: flags.workdir } : {}),
          ...(flags.user ? { user: flags.user } : {}),
          ...(flags.tty ? { tty: true } : {}),
          ...(flags.interactive ? { stdin: true } : {}),
        },
      ],
    };
  }
  const env = pairs(flags.env, '--env', issues);
  const labels = pairs(flags.label, '--label', issues);
  if (flags.name !== undefined) raw.name = flags.name;
  if (flags.restart !== undefined) {
    // docker's forms: no | always | on-failure[:max] (and unless-stopped, which hyper's always already is: a stop is never undone)
    const m = /^(on-failure):(\d+)$/.exec(flags.restart);
    const name = m ? m[1] : flags.restart === 'no' ? 'never' : flags.restart === 'unless-stopped' ? 'always' : flags.restart;
    raw.restartPolicy = name;
    if (m) raw.maxRestarts = Number(m[2]);
    else if (flags.restart.includes(':')) issues.push({ path: 'restartPolicy', message: `--restart: "${flags.restart}" is not a policy (never, always, on-failure or on-failure:N with N a number)` });
  }
  if (flags.waitTimeout !== undefined) {
    const ms = parseDuration(flags.waitTimeout);
    if (ms === null || ms <= 0) issues.push({ path: 'waitTimeoutMs', message: `--wait-timeout: "${flags.waitTimeout}" is not a duration (e.g. 500ms, 30s, 5m)` });
    else raw.waitTimeoutMs = ms;
  }
  if (labels) raw.labels = { ...(raw.labels as object), ...labels };
  if (flags.publish?.length) raw.ports = [...((raw.ports as unknown[]) ?? []), ...flags.publish.map((p, i) => parsePublish(p, i, issues)).filter(Boolean)];
  if (flags.network !== undefined) raw.network = flags.network === 'default' ? 'bridge' : flags.network;
  if (flags.dns?.length) raw.dns = flags.dns;
  if (flags.dnsSearch?.length) raw.dnsSearch = flags.dnsSearch;
  if (flags.cpus !== undefined || flags.memory !== undefined) {
    const r = { ...(raw.resources as object) } as Record<string, unknown>;
    if (flags.cpus !== undefined) r.cpus = num(flags.cpus);
    if (flags.memory !== undefined) r.memoryMb = num(flags.memory);
    raw.resources = r;
  }
  if (flags.volume?.length && Array.isArray(raw.containers)) {
    const volumes = flags.volume.map((v, i) => {
      const parts = v.split(':');
      const ro = parts.length === 3 && (parts[2] === 'ro' || parts[2] === 'rw') ? parts.pop() === 'ro' : false;
      if (parts.length !== 2) issues.push({ path: `volumes[${i}]`, message: `-v ${v}: expected /host/dir:/container/path[:ro]` });
      return { source: parts[0], target: parts[1] ?? '', readonly: ro };
    });
    raw.containers = raw.containers.map((c: Record<string, unknown>, i: number) => (i === 0 ? { ...c, volumes: [...((c.volumes as unknown[]) ?? []), ...volumes] } : c));
  }
  if (env && Array.isArray(raw.containers)) raw.containers = raw.containers.map((c: Record<string, unknown>) => ({ ...c, env: { ...(c.env as object), ...env } }));
  const r = PodSpec.safeParse(raw);
  if (!r.success) issues.push(...issuesOf(r.error));
  if (issues.length) throw new ValidationError(flags.file ? `pod file ${flags.file}` : 'pod spec', issues);
  return r.data!;
}
