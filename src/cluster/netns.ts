// Network namespaces for a local cluster: one bridge in the host's namespace, and per member a namespace joined to it by a
// veth pair, so members really talk over a network and a test can cut one off (link down) and heal it (link up).
import { execFileSync } from 'node:child_process';

function ip(args: string[], o: { ignoreFailure?: boolean } = {}): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (o.ignoreFailure) return '';
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (err as Error).message}${/Operation not permitted/.test(stderr ?? '') ? ' — a local cluster needs root (CAP_NET_ADMIN)' : ''}`);
  }
}

export interface Member { ns: string; veth: string; address: string }

/** The bridge (with the host's address on it, .1 of the /24) for members to join. */
export function createBridge(name: string, hostAddress: string): void {
  ip(['link', 'add', name, 'type', 'bridge']);
  ip(['addr', 'add', `${hostAddress}/24`, 'dev', name]);
  ip(['link', 'set', name, 'up']);
}

/** A namespace with loopback up and eth0 (the peer of `veth` on the bridge) at `address`/24, its default route via the bridge. */
export function addMember(bridge: string, m: Member, gateway: string): void {
  ip(['netns', 'add', m.ns]);
  ip(['-n', m.ns, 'link', 'set', 'lo', 'up']);
  ip(['link', 'add', m.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.ns]);
  ip(['link', 'set', m.veth, 'master', bridge]);
  ip(['link', 'set', m.veth, 'up']);
  ip(['-n', m.ns, 'addr', 'add', `${m.address}/24`, 'dev', 'eth0']);
  ip(['-n', m.ns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', m.ns, 'route', 'add', 'default', 'via', gateway]);
}

/** Cuts a member off the network (its processes keep running), or heals it. */
export function setLink(m: Member, up: boolean): void {
  ip(['link', 'set', m.veth, up ? 'up' : 'down']);
}

/** Removes what exists of a member and the bridge; absent pieces are not an error (down after a failed up). */
export function removeAll(bridge: string, members: Member[]): void {
  for (const m of members) {
    ip(['link', 'del', m.veth], { ignoreFailure: true });
    ip(['netns', 'del', m.ns], { ignoreFailure: true });
  }
  ip(['link', 'del', bridge], { ignoreFailure: true });
}

/** The command line that runs `argv` inside a member's namespace. */
export function inNamespace(ns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}
