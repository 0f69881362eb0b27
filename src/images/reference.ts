// Image references as Docker spells them (`busybox`, `registry:5000/team/app:v1`, `app@sha256:…`): parsed, checked and normalised.
import { ValidationError } from '../errors.js';

export interface ImageRef {
  /** Registry host[:port]; docker.io when the reference names none. */
  domain: string;
  /** Repository path inside the registry (`library/busybox` for Docker Hub's official images). */
  path: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

const bad = (ref: string, why: string) =>
  new ValidationError(`image reference "${ref}"`, [{ path: 'image', message: `${why} (expected [registry[:port]/]name[:tag][@sha256:digest], e.g. busybox or localhost:5000/team/app:v1)` }]);

export function parseRef(ref: string): ImageRef {
  if (!ref || ref.length > 512) throw bad(ref, ref ? 'longer than 512 characters' : 'empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `digest "${digest}" is not sha256: followed by 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `tag "${tag}" may only hold letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')`);
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad(ref, `registry "${domain}" is not a host name with an optional port`);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(ref, p ? `name component "${p}" must be lowercase letters and digits, separated by '.', '_', '__' or '-'` : 'empty name component');
  }
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  return { domain, path: parts.join('/'), tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** The full name: `docker.io/library/busybox:latest`, `localhost:5000/app@sha256:…`. */
export function canonical(r: ImageRef): string {
  return `${r.domain}/${r.path}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The name users typed it as: Docker Hub's domain and `library/` dropped. */
export function familiar(r: ImageRef): string {
  const name = r.domain === 'docker.io' ? r.path.replace(/^library\//, '') : `${r.domain}/${r.path}`;
  return `${name}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

export function normalizeRef(ref: string): string {
  return canonical(parseRef(ref));
}

/** The repository without tag or digest, for recording `repo@digest`. */
export function repository(r: ImageRef): string {
  return `${r.domain}/${r.path}`;
}

/** Why a reference is invalid, or undefined when it parses (for schema refinements). */
export function refProblem(ref: string): string | undefined {
  try {
    parseRef(ref);
    return undefined;
  } catch (err) {
    return (err as ValidationError).issues?.[0]?.message ?? (err as Error).message;
  }
}
