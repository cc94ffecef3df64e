/**
 * Whether a TCP port is free, and when it is not, which process holds it. `npm start` checks every
 * port it is about to listen on, so a second instance stops and says why instead of joining the
 * first one's Temporal server. Finding the holder reads /proc (Linux): the listening socket's inode
 * in /proc/net/tcp{,6}, then the process with that socket among /proc/<pid>/fd.
 */
import fs from 'node:fs';
import net from 'node:net';

export interface PortHolder {
  pid: number;
  /** Its command line, shortened. */
  command: string;
}

/** Whether `host:port` can be listened on right now (someone may take it a moment later). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Inodes of the sockets listening on `port`, on any local address, from /proc/net/tcp and tcp6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = fields;
      if (!local || !inode || state !== '0A') continue; // 0A: LISTEN
      if (Number.parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(inode);
    }
  }
  return inodes;
}

function commandLine(pid: number): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const text = argv.join(' ');
    return text.length > 160 ? `${text.slice(0, 157)}…` : text;
  } catch {
    return '';
  }
}

/**
 * The process listening on `port` on this machine, or `undefined` when none is found: nothing
 * listens, this is not Linux, or the holder belongs to a user whose processes we cannot read.
 */
export function portHolder(port: number): PortHolder | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) return { pid: Number(pid), command: commandLine(Number(pid)) };
    }
  }
  return undefined;
}

/** "pid 1234 (`temporal server start-dev …`)", or a vaguer phrase when the holder cannot be seen. */
export function describePortHolder(port: number): string {
  const holder = portHolder(port);
  if (!holder) return 'another process (not one this user can see)';
  return `pid ${holder.pid}${holder.command ? ` (\`${holder.command}\`)` : ''}`;
}

/** A port someone else holds; the message says who, and `what` the port was for. */
export class PortTakenError extends Error {
  override name = 'PortTakenError';
  constructor(
    readonly port: number,
    readonly what: string,
    readonly holder: string = describePortHolder(port),
  ) {
    super(`port ${port} (${what}) is taken by ${holder}`);
  }
}
