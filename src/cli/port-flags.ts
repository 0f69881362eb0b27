// docker's -p forms read into port mappings: [hostIp:][hostPort:]containerPort[/tcp|/udp]; a bad one is an issue naming it.
import type { PortMappingInput } from '../events/schemas/pod-spec.js';

export function parsePublish(v: string, i: number, issues: { path: string; message: string }[]): PortMappingInput | null {
  const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(?:(\d*):)?(\d+)(?:\/(tcp|udp))?$/.exec(v.trim());
  if (!m) {
    issues.push({ path: `ports[${i}]`, message: `-p ${v}: expected [hostIp:][hostPort:]containerPort[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp` });
    return null;
  }
  const [, hostIp, hostPort, containerPort, protocol] = m;
  return {
    containerPort: Number(containerPort),
    ...(hostPort ? { hostPort: Number(hostPort) } : {}),
    ...(hostIp ? { hostIp } : {}),
    ...(protocol ? { protocol: protocol as 'tcp' | 'udp' } : {}),
  };
}
