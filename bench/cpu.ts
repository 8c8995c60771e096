/**
 * CPU time used by a PostgreSQL server on this machine, read from /proc: what a drain costs the
 * database, beside what it costs the worker (the drain child's own CPU time). Together they are
 * the CPU a job costs in all, which is what bounds a drain on a machine whose cores both share.
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

interface ProcStat {
  comm: string;
  ppid: number;
  /** utime + stime: the process's own CPU time, in ticks. */
  own: number;
  /** cutime + cstime: its reaped children's, in ticks. */
  children: number;
}

async function procStat(pid: number | string): Promise<ProcStat | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone meanwhile, not Linux, or not ours to read
  }
  // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const fields = stat.slice(close + 2).split(' ');
  // After comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  const tick = (index: number) => Number(fields[index] ?? 0);
  return {
    comm: stat.slice(open + 1, close),
    ppid: tick(1),
    own: tick(11) + tick(12),
    children: tick(13) + tick(14),
  };
}

/** CPU seconds (user + system) a process has used so far, itself only; null when it is gone. */
export async function processCpuSeconds(pid: number): Promise<number | null> {
  const stat = await procStat(pid);
  return stat ? stat.own / TICKS_PER_SECOND : null;
}

/**
 * The postmaster (the server's parent process) of the backend with process id `backendPid`, as
 * `select pg_backend_pid()` gives it; null unless both are PostgreSQL processes of this machine.
 */
export async function postmasterOf(backendPid: number): Promise<number | null> {
  const backend = await procStat(backendPid);
  if (!backend || backend.comm !== 'postgres') return null;
  const postmaster = await procStat(backend.ppid);
  return postmaster?.comm === 'postgres' ? backend.ppid : null;
}

/**
 * CPU seconds (user + system) the server of `postmasterPid` has used so far: its postmaster's, and
 * every child's (backends, background workers, autovacuum). Children that have exited count too,
 * in the postmaster's reaped-children times. Take it before and after a drain; the difference is
 * what the server spent. Null where /proc cannot be read.
 */
export async function postgresCpuSeconds(postmasterPid: number): Promise<number | null> {
  // A child reaped while the others are read would be missed, or counted twice (alive, then in
  // the postmaster's children times): read again until no child was reaped meanwhile.
  let total = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await procStat(postmasterPid);
    if (!before) return null;
    let pids: string[];
    try {
      pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
    } catch {
      return null;
    }
    let children = 0;
    for (const pid of pids) {
      const stat = await procStat(pid);
      if (stat?.ppid === postmasterPid) children += stat.own + stat.children;
    }
    const after = await procStat(postmasterPid);
    if (!after) return null;
    total = children + after.own + after.children;
    if (after.children === before.children) break;
  }
  return total / TICKS_PER_SECOND;
}

/** The whole machine's CPU time so far, every core summed, in seconds (`/proc/stat`). */
export interface MachineCpu {
  /** user + nice: processes' own code, every process of the machine. */
  user: number;
  /** system + irq + softirq: the kernel working for them (syscalls, context switches, network). */
  system: number;
}

/**
 * Parses the first (`cpu `) line of /proc/stat: ticks of user, nice, system, idle, iowait, irq,
 * softirq, steal… summed over the cores. Guest time is already inside user. Null when the text
 * has no such line.
 */
export function parseMachineCpu(procStatText: string): MachineCpu | null {
  const line = procStatText.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number);
  if ([user, nice, system].some((n) => n === undefined || !Number.isFinite(n))) return null;
  return {
    user: (user! + nice!) / TICKS_PER_SECOND,
    system: (system! + (irq ?? 0) + (softirq ?? 0)) / TICKS_PER_SECOND,
  };
}

/**
 * The machine's CPU time so far (every process, the kernel's share apart), or null where
 * /proc/stat cannot be read. Take it before and after a drain: the difference is what the drain
 * cost the machine, kernel time included — which the per-process figures undercount (a context
 * switch or a wake-up is charged partly to no process) — and anything else that ran meanwhile, so
 * read it on a quiet machine.
 */
export async function machineCpuSeconds(): Promise<MachineCpu | null> {
  try {
    return parseMachineCpu(await readFile('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}
