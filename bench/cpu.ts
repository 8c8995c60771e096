/**
 * CPU time used by PostgreSQL on this machine, read from /proc: what a drain costs the database,
 * beside what it costs the worker (the drain child's own CPU time). Together they are the CPU a
 * job costs in all, which is what bounds a drain on a machine whose cores both processes share.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ, fixed at 100 for user space). */
const TICKS_PER_SECOND = 100;

/**
 * Whether the server at `url` (or the embedded one, when `url` is null) runs on this machine, so
 * that its processes' CPU time can be read here.
 */
export function postgresIsLocal(url: string | null): boolean {
  if (url === null) return true;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === '' || host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

/**
 * CPU seconds (user + system) used so far by every `postgres` process of this machine, backends
 * that have already exited included: those are counted in their postmaster's children times once
 * it has reaped them. Take it before and after a drain; the difference is what PostgreSQL spent.
 * Null where /proc cannot be read (not Linux).
 */
export async function postgresCpuSeconds(): Promise<number | null> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let ticks = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (open < 0 || close < open || stat.slice(open + 1, close) !== 'postgres') continue;
    const fields = stat.slice(close + 2).split(' ');
    // After comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    for (const index of [11, 12, 13, 14]) ticks += Number(fields[index] ?? 0);
  }
  return ticks / TICKS_PER_SECOND;
}
