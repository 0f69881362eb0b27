// `hyper pull | load | images | rmi | save | login`: this host's image store (the one its daemon runs pods from); no daemon needed.
import type { Command } from 'commander';
import { ImageError } from '../../errors.js';
import type { PullResult, StoredImage } from '../../images/store.js';
import { familiar, parseRef } from '../../images/reference.js';
import { defaultDataDir } from '../../daemon/paths.js';
import type { GlobalOptions } from '../connection.js';
import { ago, printJson, table } from '../format.js';

// loaded on use: the store pulls in execa (~170 ms of start-up) that every other command can do without
const storeOf = async (g: GlobalOptions) => new (await import('../../images/store.js')).ImageStore(g.dataDir ?? defaultDataDir());
const progress = (m: string) => process.stderr.write(`${m}\n`);
const shortId = (id: string) => id.slice(7, 19);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function reportPulled(name: string, r: PullResult): void {
  const what = r.converted ? 'pulled and converted' : r.pulled ? 'pulled (image already converted)' : 'already present';
  process.stderr.write(`${name}: ${what}\n`);
  process.stdout.write(`${r.image.id}\n`);
}

function row(i: StoredImage): string[][] {
  const names = i.repoTags.length ? i.repoTags.map((t) => familiar(parseRef(t))) : ['<none>'];
  return names.map((n) => {
    const colon = n.lastIndexOf(':');
    const [repo, tag] = n === '<none>' ? ['<none>', '<none>'] : [n.slice(0, colon), n.slice(colon + 1)];
    return [repo, tag, shortId(i.id), i.created ? ago(Date.parse(i.created)) : '-', mb(i.diskBytes)];
  });
}

export function registerImages(program: Command, globals: () => GlobalOptions): void {
  program
    .command('pull')
    .description('pull an image from a registry into this host\'s store (converted once to a read-only EROFS image)')
    .argument('<image>', 'reference: [registry[:port]/]name[:tag][@sha256:digest]')
    .option('--insecure', 'plain HTTP or unverified TLS for this registry')
    .option('--authfile <file>', 'credentials file (containers auth.json or Docker config.json); default: skopeo\'s usual places')
    .option('-q, --quiet', 'no progress')
    .action(async (ref: string, o: { insecure?: boolean; authfile?: string; quiet?: boolean }) => {
      const name = familiar(parseRef(ref));
      const r = await (await storeOf(globals())).pull(ref, { policy: 'always', insecure: o.insecure, authfile: o.authfile, tty: !o.quiet && process.stdout.isTTY, onProgress: o.quiet ? undefined : progress });
      reportPulled(name, r);
    });

  program
    .command('load')
    .description('load images from a `docker save` archive, an OCI archive or an OCI layout directory')
    .requiredOption('-i, --input <file>', 'the archive (or OCI layout directory)')
    .option('-q, --quiet', 'no progress')
    .action(async (o: { input: string; quiet?: boolean }) => {
      const results = await (await storeOf(globals())).load(o.input, { onProgress: o.quiet ? undefined : progress });
      for (const r of results) {
        const names = r.image.repoTags.map((t) => familiar(parseRef(t)));
        process.stdout.write(`Loaded image: ${names.join(', ') || r.image.id}${r.converted ? '' : ' (already converted)'}\n`);
      }
    });

  program
    .command('images')
    .description('images in this host\'s store')
    .option('--digests', 'show repository digests')
    .action(async (o: { digests?: boolean }) => {
      const images = (await storeOf(globals())).list();
      if (globals().output === 'json') return printJson(images);
      const rows = images.flatMap((i) => row(i).map((r) => (o.digests ? [...r.slice(0, 2), i.repoDigests[0]?.split('@')[1] ?? '<none>', ...r.slice(2)] : r)));
      process.stdout.write(table(['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'], rows) + '\n');
    });

  program
    .command('rmi')
    .description('untag images, deleting each one (EROFS image and unshared layers) when no tag is left or it is named by id')
    .argument('<image...>', 'references or ids')
    .action(async (refs: string[]) => {
      const store = await storeOf(globals());
      let failed = 0;
      for (const ref of refs) {
        try {
          for (const line of await store.remove(ref)) process.stdout.write(`${line}\n`);
        } catch (err) {
          failed++;
          process.stderr.write(`hyper: ${(err as Error).message}\n`);
        }
      }
      if (failed) process.exitCode = 1;
    });

  program
    .command('save')
    .description('write an image to an archive `docker load` (or `hyper load`) reads')
    .argument('<image>', 'reference or id')
    .requiredOption('-o, --output <file>', 'the archive to write')
    .option('--format <format>', 'docker-archive or oci-archive', 'docker-archive')
    .action(async (ref: string, o: { output: string; format: string }) => {
      if (o.format !== 'docker-archive' && o.format !== 'oci-archive') throw new ImageError('usage', `--format must be docker-archive or oci-archive, not "${o.format}"`);
      await (await storeOf(globals())).save(ref, o.output, o.format);
      process.stderr.write(`saved ${ref} to ${o.output}\n`);
    });

  program
    .command('login')
    .description('store credentials for a registry where skopeo (and so hyper pull and hyperd) finds them')
    .argument('<registry>', 'registry host[:port]')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password from standard input (default: HYPER_REGISTRY_PASSWORD)')
    .option('--insecure', 'plain HTTP or unverified TLS for this registry')
    .option('--authfile <file>', 'credentials file to write (default: skopeo\'s, ${XDG_RUNTIME_DIR}/containers/auth.json)')
    .action(async (registry: string, o: { username: string; passwordStdin?: boolean; insecure?: boolean; authfile?: string }) => {
      let password = process.env.HYPER_REGISTRY_PASSWORD;
      if (o.passwordStdin) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      }
      if (!password) throw new ImageError('usage', 'no password: pipe it to --password-stdin or set HYPER_REGISTRY_PASSWORD');
      const { isLoopback } = await import('../../images/store.js');
      const { runTool } = await import('../../images/tools.js');
      const args = ['login', '--username', o.username, '--password-stdin', ...(o.insecure || isLoopback(registry) ? ['--tls-verify=false'] : []), ...(o.authfile ? ['--authfile', o.authfile] : []), registry];
      await runTool('skopeo', args, `log in to ${registry}`, { input: password });
      process.stderr.write(`Login Succeeded: ${registry}\n`);
    });
}
