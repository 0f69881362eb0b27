// `hyper tenant add|ls|rm`: tenants are facts in the log (name, public nkey, policy); every daemon lets in the active ones.
// Adding and removing them takes the host role's credentials (root on a daemon host), as they change who may connect.
import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { nkeys } from '@nats-io/transport-node';
import { HyperError, ValidationError } from '../../errors.js';
import { tenantEvent, tenantName, TenantPolicy } from '../../events/schemas/mod.js';
import { DEFAULT_TENANT } from '../../events/schemas/subjects.js';
import { hostCredentialsFile, tenantCredentialsFile } from '../../auth/credentials.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { openSession, type GlobalOptions, type Session } from '../connection.js';
import { cliActor } from '../intent.js';
import { ago, printJson, table } from '../format.js';

const repeat = (v: string, acc: string[]) => [...acc, v];

function nameOf(raw: string): string {
  const r = tenantName.safeParse(raw);
  if (!r.success) throw new ValidationError('tenant', [{ path: 'name', message: r.error.issues[0].message }]);
  return raw;
}

/** A session as the host role: only who may read DATA_DIR/auth/host.json (root) administers tenants. */
async function hostSession(g: GlobalOptions, creds?: string): Promise<Session> {
  const file = creds ?? hostCredentialsFile(g.dataDir ?? defaultDataDir());
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new HyperError('auth', `managing tenants takes the host role's credentials, and ${file} cannot be read (${(err as NodeJS.ErrnoException).code}): run it as root on a daemon's host, or give them with --host-creds FILE`, { cause: err });
  }
  return openSession(g, { credentials: file });
}

export function registerTenant(program: Command, globals: () => GlobalOptions): void {
  const tenant = program.command('tenant').description('add, list and remove tenants (each with its own credentials, pods, names and logs)');

  tenant
    .command('add <name>')
    .description('add a tenant and write its credentials (an nkey seed) to a file only root may read; hand that file to the tenant')
    .option('--max-cpus <n>', 'the most vCPUs one of its pods may have', Number)
    .option('--max-memory <MB>', 'the most memory one of its pods may have', Number)
    .option('--registry <host[:port]>', 'a registry its images may come from (repeatable; default: any)', repeat, [] as string[])
    .option('--allow-bind <dir>', 'a host directory its pods may bind with -v, and what is below it (repeatable; default: none)', repeat, [] as string[])
    .option('--creds-out <file>', 'where to write its credentials (default: DATA_DIR/auth/tenants/<name>.json)')
    .option('--host-creds <file>', 'the host role\'s credentials (default: DATA_DIR/auth/host.json)')
    .action(async (raw: string, o: { maxCpus?: number; maxMemory?: number; registry: string[]; allowBind: string[]; credsOut?: string; hostCreds?: string }) => {
      const name = nameOf(raw);
      if (name === DEFAULT_TENANT) throw new HyperError('invalid', `"${DEFAULT_TENANT}" is the built-in tenant the admin credentials act for; pick another name`);
      const policy = TenantPolicy.safeParse({ maxCpus: o.maxCpus, maxMemoryMb: o.maxMemory, ...(o.registry.length ? { registries: o.registry } : {}), ...(o.allowBind.length ? { allowBind: o.allowBind } : {}) });
      if (!policy.success) throw new ValidationError('tenant policy', policy.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
      const g = globals();
      const s = await hostSession(g, o.hostCreds);
      try {
        const view = await s.view();
        const cur = view.tenants.get(name);
        if (cur?.state === 'active') throw new HyperError('exists', `tenant ${name} exists (added ${new Date(cur.addedAt).toISOString()} by ${cur.by}) — remove it first with: hyper tenant rm ${name}`);
        const key = nkeys.createUser();
        const seed = new TextDecoder().decode(key.getSeed());
        const file = o.credsOut ?? tenantCredentialsFile(g.dataDir ?? defaultDataDir(), name);
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        // all a remote tenant needs: its seed, where the cluster listens, and the CA to verify it by
        writeFileSync(file, JSON.stringify({ tenant: name, seed, nats: s.advertised, ...(s.ca ? { ca: s.ca } : {}) }) + '\n', { mode: 0o600 });
        // OCC on the tenant's subject: two admins adding one name at once get one tenant
        await s.store.append(tenantEvent('tenant.added', name, { nkey: key.getPublicKey(), policy: policy.data }, { id: `tenant.${name}.${Date.now()}`, at: Date.now(), by: cliActor() }), { expectLastSeq: cur?.seq ?? 0 });
        process.stdout.write(`${file}\n`);
        process.stderr.write(`tenant ${name} added; its credentials are in ${file} — give that file to the tenant (they use it with: hyper --creds ${file} …)\n`);
      } finally {
        await s.close();
      }
    });

  tenant
    .command('ls')
    .description('list tenants and their policies')
    .action(async () => {
      const g = globals();
      const s = await openSession(g);
      try {
        s.requireAdmin('hyper tenant ls');
        const view = await s.view();
        const rows = [...view.tenants.values()].filter((t) => t.state === 'active').sort((a, b) => a.name.localeCompare(b.name));
        const pods = (t: string) => view.livePods(t).length;
        if (g.output === 'json') return printJson(rows.map((t) => ({ ...t, pods: pods(t.name) })));
        const limit = (t: (typeof rows)[number]) => [t.policy.maxCpus ? `${t.policy.maxCpus} vCPU` : '', t.policy.maxMemoryMb ? `${t.policy.maxMemoryMb} MB` : '', t.policy.registries ? `registries ${t.policy.registries.join(',')}` : ''].filter(Boolean).join(', ') || '-';
        process.stdout.write(table(['TENANT', 'PODS', 'POLICY', 'ADDED', 'BY'], rows.map((t) => [t.name, String(pods(t.name)), limit(t), ago(t.addedAt), t.by])) + '\n');
      } finally {
        await s.close();
      }
    });

  tenant
    .command('rm <name>')
    .description('remove a tenant: its credentials stop working at once (connected clients are cut off); it must have no pods left')
    .option('--host-creds <file>', 'the host role\'s credentials (default: DATA_DIR/auth/host.json)')
    .action(async (raw: string, o: { hostCreds?: string }) => {
      const name = nameOf(raw);
      const g = globals();
      const s = await hostSession(g, o.hostCreds);
      try {
        const view = await s.view();
        const cur = view.tenants.get(name);
        if (cur?.state !== 'active') throw new HyperError('no-tenant', `no tenant ${name} — list them with: hyper tenant ls`);
        const left = view.livePods(name);
        if (left.length) throw new HyperError('state', `tenant ${name} still has ${left.length} pod(s) (${left.slice(0, 5).map((p) => p.context.name ?? p.context.id).join(', ')}) — remove them first: hyper --tenant ${name} rm -f ${left.map((p) => p.context.id).join(' ')}`);
        await s.store.append(tenantEvent('tenant.removed', name, {}, { id: `tenant.${name}.removed.${Date.now()}`, at: Date.now(), by: cliActor() }), { expectLastSeq: cur.seq });
        rmSync(tenantCredentialsFile(g.dataDir ?? defaultDataDir(), name), { force: true });
        process.stdout.write(`${name}\n`);
      } finally {
        await s.close();
      }
    });
}
