// The daemon's command line, shared by the `hyperd` binary and `hyper daemon`.
import { parsePoolSize, type PoolSize } from '../drivers/qemu/pool.js';
import type { TemplateMode } from '../drivers/registry.js';
import { hostname } from 'node:os';
import { parseDuration } from '../duration.js';
import { Command } from 'commander';
import { createLogger } from '../log.js';
import { parseServers } from '../nats/connect.js';
import { DEFAULT_NETWORK, DEFAULT_OVERCOMMIT, Daemon, defaultCapacity } from './daemon.js';
import { ValidationError } from '../errors.js';
import { readCredentialsFile } from '../auth/credentials.js';
import { defaultDataDir } from './paths.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: "${v}" is not a whole number`);
  return n;
};

/** An overcommit ratio: a number from 0.1 to 100. */
const ratio = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.1 || n > 100) throw new Error(`${name}: "${v}" is not a ratio from 0.1 to 100`);
  return n;
};

function lease(v: string): number {
  const ms = parseDuration(v);
  if (ms === null || ms < 300) throw new Error(`--host-lease: "${v}" is not a duration of at least 300ms (e.g. 3s)`);
  return ms;
}

function measureEvery(v: string): number {
  const ms = parseDuration(v);
  if (ms === null || ms < 200) throw new Error(`--measure-every: "${v}" is not a duration of at least 200ms (e.g. 15s)`);
  return ms;
}

function memoryAccounting(v: string): 'measured' | 'committed' {
  if (v !== 'measured' && v !== 'committed') throw new Error(`--memory-accounting: "${v}" is not measured or committed`);
  return v;
}

function parseListen(v: string): { host: string; port?: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+)(?::(\d+))?$/.exec(v);
  if (!m) throw new Error(`--listen: "${v}" is not host[:port]`);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`--listen: port ${port} is not between 1 and 65535`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function hostCredentials(file: string): { user: string; password: string } {
  const c = readCredentialsFile(file);
  if (c.kind !== 'admin') throw new Error(`--creds ${file}: a tenant's credentials cannot run a host; give the host role's {user, password}`);
  return { user: c.user, password: c.password };
}

export function defaultHostId(): string {
  return hostname().toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 48) || 'host';
}

function networkMode(v: string): 'auto' | 'bridge' | 'user' | 'none' {
  if (v === 'auto' || v === 'bridge' || v === 'user' || v === 'none') return v;
  throw new ValidationError('hyperd options', [{ path: '--network', message: `must be auto, bridge, user or none (not "${v}")` }]);
}

/** --templates → made on need, --no-templates → never, neither → those made ahead of time; a pool needs them on. */
export function templateMode(flag: boolean | undefined, pool: PoolSize[], shared: boolean): TemplateMode {
  if (pool.length && flag === false) throw new ValidationError('hyperd options', [{ path: '--pool', message: 'a pool is made of restored templates: drop --no-templates' }]);
  const named = pool.find((p) => p.tenant);
  if (named && shared) throw new ValidationError('hyperd options', [{ path: '--pool', message: `with --share-templates every tenant's pods take from one pool: drop "${named.tenant}:"` }]);
  return flag === true || pool.length ? 'on' : flag === false ? 'off' : 'existing';
}

export function daemonCommand(name: string): Command {
  return new Command(name)
    .description('run a hyper host daemon: joins the cluster, schedules pods and runs those placed on this host')
    .option('--nats <urls>', 'NATS servers (comma-separated); default: HYPER_NATS, else an embedded nats-server')
    .option('--host-id <id>', 'this host\'s id', defaultHostId())
    .option('--data-dir <dir>', 'where the daemon keeps its data', defaultDataDir())
    .option('--driver <name>', 'hypervisor driver', 'hollow')
    .option('--hollow-hosts <n>', 'run N hollow hosts in this process (scale tests; hollow driver only)', int('--hollow-hosts'))
    .option('--hollow-boot-ms <ms>', 'simulated boot latency of hollow VMs', int('--hollow-boot-ms'))
    .option('--hollow-failure-rate <p>', 'probability that a hollow VM fails to boot', parseFloat)
    .option('--cpus <n>', 'vCPUs this host offers (default: cores × --cpu-overcommit)', int('--cpus'))
    .option('--memory <MB>', 'memory this host offers in MB (default: 90% of RAM × --memory-overcommit)', int('--memory'))
    .option('--cpu-overcommit <ratio>', `vCPUs offered per core when --cpus is not given (default ${DEFAULT_OVERCOMMIT.cpu}: idle guests cost little CPU)`, ratio('--cpu-overcommit'))
    .option('--memory-accounting <mode>', 'count memory by what VMs take, measured (measured, the default where the driver can measure: qemu), or by what they are given (committed)', memoryAccounting)
    .option('--measure-every <duration>', 'how often VMs\' memory is measured for --memory-accounting measured (default 15s)', measureEvery)
    .option('--memory-overcommit <ratio>', `guest memory offered per MB of 90% of RAM when --memory is not given (default ${DEFAULT_OVERCOMMIT.memory}; above 1, guests that touch all their memory can exhaust the host's)`, ratio('--memory-overcommit'))
    .option('--insecure-registry <host:port>', 'pull from this registry over plain HTTP (repeatable; loopback registries always are)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--templates', 'start VMs by restoring VM templates, made when a pod size first needs one (qemu driver; a cold boot otherwise, recorded in vm.origin). Without it, only templates made by hyper template build are used')
    .option('--no-templates', 'never restore a template: every VM boots cold')
    .option('--pool <size>', 'keep N paused VMs of a size restored and ready, [TENANT:][CPUSx]MB=N (e.g. 256=4, or acme:256=2 for tenant acme\'s pods; repeatable; turns --templates on)', (v: string, acc: PoolSize[]) => [...acc, parsePoolSize(v)], [] as PoolSize[])
    .option('--no-spare-qemu', 'do not keep a QEMU started ahead for each template in use (it saves a restored pod QEMU\'s own start, ~90 ms under emulation, for an idle process of ~10 MB)')
    .option('--share-templates', 'one VM template per size for all tenants, instead of one per tenant (shares guest pages between tenants: see the README)')
    .option('--replicas <n>', 'stream replicas (3 on a 3-node NATS cluster)', int('--replicas'), 1)
    .option('--creds <file>', 'credentials (JSON {user, password}) of the host role on an external NATS (--nats)')
    .option('--group <name>', 'members of this group may drive the daemon (read its client credentials), as docker\'s socket group')
    .option('--listen <host[:port]>', 'where the embedded nats-server listens (default 127.0.0.1 and a free port); beyond loopback it requires TLS', parseListen)
    .option('--tls', 'TLS on the embedded nats-server even on loopback (a CA and certificate are made under DATA_DIR/auth/tls)')
    .option('--tls-ca <file>', 'the CA to verify an external NATS (--nats tls://…) by')
    .option('--host-lease <duration>', 'how long this host runs pods without renewing its lease; survivors declare it lost a sixth later (default 3s)', lease)
    .option('--network <mode>', 'pod network: bridge (taps on a bridge; root), user (QEMU user-mode NAT and port forwards), none, or auto: bridge where possible, else user', 'auto')
    .option('--bridge <name>', 'the bridge of the pod network (bridge mode)', DEFAULT_NETWORK.bridge)
    .option('--pod-cidr <cidr>', 'the pod network\'s subnet: the bridge gets its first address, pods the rest', DEFAULT_NETWORK.cidr)
    .option('--docker-api <address>', 'serve the Docker Engine API here: unix:///path/docker.sock or tcp://127.0.0.1:PORT (default DATA_DIR/docker.sock)')
    .option('--no-docker-api', 'do not serve the Docker Engine API')
    .option('--docker-api-insecure-bind', 'allow --docker-api tcp:// beyond loopback (the API has no authentication)')
    .option('--stop-pods-on-exit', 'stop every pod when hyperd stops (default: pods keep running and the next hyperd re-attaches)')
    .action(async (o) => {
      const log = createLogger('hyperd');
      // a bug in one actor must not take every pod's daemon down with it: say so loudly and carry on
      process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (a bug: please report it)'));
      const nats = o.nats ?? process.env.HYPER_NATS;
      // handled from the first moment: a signal before the handlers were set killed hyperd outright (the default action),
      // even just after it said it was ready. One during the start stops it once it is up; a second one exits at once.
      let d: Daemon | null = null;
      let asked: string | null = null;
      const stop = (sig: string) => {
        if (asked && !d) {
          log.warn({ signal: sig }, `${sig} again while starting: exiting now`);
          process.exit(1);
        }
        if (asked) return;
        asked = sig;
        if (!d) return void log.info({ signal: sig }, `${sig} while starting: hyperd stops as soon as it is up (${sig} again to exit now)`);
        d.stop(sig).then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      d = await Daemon.start({
        nats: nats ? parseServers(nats) : [],
        hostId: o.hostId,
        dataDir: o.dataDir,
        driver: o.driver,
        log,
        hollowHosts: o.hollowHosts,
        hollow: { bootMs: o.hollowBootMs, failureRate: o.hollowFailureRate },
        capacity: { ...defaultCapacity({ cpuOvercommit: o.cpuOvercommit, memoryOvercommit: o.memoryOvercommit }), ...(o.cpus ? { cpus: o.cpus } : {}), ...(o.memory ? { memoryMb: o.memory } : {}) },
        replicas: o.replicas,
        insecureRegistries: o.insecureRegistry,
        templates: templateMode(o.templates, o.pool, Boolean(o.shareTemplates)),
        poolSizes: o.pool,
        spareQemus: o.spareQemu !== false,
        memoryAccounting: o.memoryAccounting,
        measureEveryMs: o.measureEvery,
        shareTemplates: Boolean(o.shareTemplates),
        stopPodsOnExit: Boolean(o.stopPodsOnExit),
        group: o.group,
        natsAuth: o.creds ? hostCredentials(o.creds) : undefined,
        listen: o.listen,
        tls: Boolean(o.tls),
        natsCa: o.tlsCa,
        hostLeaseMs: o.hostLease,
        network: { mode: networkMode(o.network), bridge: o.bridge, cidr: o.podCidr },
        dockerApi: o.dockerApi === true ? undefined : o.dockerApi,
        dockerApiInsecureBind: Boolean(o.dockerApiInsecureBind),
      });
      if (asked) {
        const sig: string = asked;
        asked = null;
        stop(sig);
      }
      // the daemon runs until a signal; the process exits from stop()
      await new Promise(() => {});
    });
}
