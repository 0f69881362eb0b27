// The flags that describe a pod on `run` and `create`.
import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function intentFlags(cmd: Command): Command {
  return cmd
    .option('-f, --file <path>', 'pod file (YAML or JSON) with one or more containers')
    .option('--name <name>', 'a unique name for the pod')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-l, --label <KEY=VALUE>', 'label (repeatable)', collect)
    .option('--cpus <n>', 'vCPUs for the pod VM (default 1)')
    .option('-m, --memory <MB>', 'memory for the pod VM in MB (default 256)')
    .option('--restart <policy>', 'never | always | on-failure[:MAX] (default never; docker\'s no and unless-stopped too)')
    .option('--wait-timeout <duration>', 'fail if no host has room for it within this long (e.g. 30s; default: wait as long as it takes)')
    .option('-w, --workdir <dir>', 'working directory in the container')
    .option('-u, --user <user>', 'user (name or uid[:gid]) in the container')
    .option('-t, --tty', 'allocate a terminal')
    .option('-i, --interactive', 'keep the container\'s stdin open (for this terminal with run, for hyper attach later)')
    .option('--entrypoint <cmd>', 'replace the image\'s Entrypoint')
    .option('-p, --publish <[ip:][hostPort:]port[/proto]>', 'publish a pod port on the host (repeatable), e.g. 8080:80, 127.0.0.1:5353:53/udp, or 80 for a free host port', collect)
    .option('-v, --volume <host:ctr[:ro]>', 'share a host directory into the container (repeatable), e.g. /srv/data:/data or /etc/app:/etc/app:ro', collect)
    .option('--network <mode>', 'bridge (default: the host\'s pod network) or none (only lo)')
    .option('--dns <ip>', 'a DNS server for names other than pods\' (repeatable; default: the host\'s)', collect)
    .option('--dns-search <domain>', 'a DNS search domain (repeatable)', collect);
}
