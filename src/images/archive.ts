// Tells what an image archive holds — `docker save` tarball, OCI archive or OCI layout directory — as skopeo sources with their names.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError } from '../errors.js';
import { REF_NAME } from './oci-layout.js';
import { parseRef } from './reference.js';
import { runTool } from './tools.js';

export interface ArchiveEntry {
  /** A skopeo source naming one image in the archive. */
  source: string;
  /** Image references the archive gives it (none: an untagged image). */
  names: string[];
}

const named = (n: string | undefined) => {
  if (!n) return [];
  try {
    parseRef(n);
    return [n];
  } catch {
    return []; // an OCI ref.name may be a bare tag ("latest"): no repository to file it under
  }
};

function ociEntries(index: { manifests?: { annotations?: Record<string, string> }[] }, kind: 'oci' | 'oci-archive', path: string, what: string): ArchiveEntry[] {
  const ms = index.manifests ?? [];
  if (ms.length === 0) throw new ImageError('bad-archive', `${what} ${path} holds no image`);
  return ms.map((m, i) => {
    const ref = m.annotations?.[REF_NAME];
    const name = m.annotations?.['io.containerd.image.name'] ?? ref;
    if (!ref && ms.length > 1) throw new ImageError('bad-archive', `image ${i + 1} of ${what} ${path} has no ${REF_NAME} annotation, so skopeo cannot pick it out`);
    return { source: `${kind}:${path}${ref ? `:${ref}` : ''}`, names: named(name) };
  });
}

export async function archiveEntries(path: string): Promise<ArchiveEntry[]> {
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, 'oci-layout'))) throw new ImageError('bad-archive', `${path} is a directory but not an OCI image layout (no oci-layout file)`);
    return ociEntries(JSON.parse(readFileSync(join(path, 'index.json'), 'utf8')), 'oci', path, 'the OCI layout');
  }
  const members = (await runTool('tar', ['-tf', path], `read the archive ${path}`)).split('\n');
  const member = (name: string) => members.find((l) => l.replace(/^\.\//, '') === name);
  const read = async (name: string) => JSON.parse(await runTool('tar', ['-xOf', path, member(name)!], `read ${name} from ${path}`));
  if (member('manifest.json')) {
    const manifest = (await read('manifest.json')) as { RepoTags?: string[] | null }[];
    return manifest.map((m, i) => ({ source: `docker-archive:${path}:@${i}`, names: (m.RepoTags ?? []).flatMap(named) }));
  }
  if (member('index.json') && member('oci-layout')) return ociEntries(await read('index.json'), 'oci-archive', path, 'the OCI archive');
  throw new ImageError('bad-archive', `${path} is neither a docker save archive (no manifest.json) nor an OCI archive (no index.json and oci-layout)`);
}
