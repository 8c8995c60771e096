import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Options of {@link withFolderLock}. */
export interface FolderLockOptions {
  /** Give up waiting after this long (the holder may be initialising a cluster: seconds). */
  timeoutMs?: number;
  /** Called once when another process holds the lock, before waiting for it. */
  onWait?: (holderPid: number | null) => void;
}

/** Whether a process with this id exists (one owned by another user counts too). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding `<folder>/<name>`, a lock file made with O_EXCL that holds the holder's
 * process id, so processes that start at once on one folder take turns: the first does the work,
 * the others wait and then find it done. A lock whose holder has died (killed mid-way) is taken
 * over; one whose content cannot be read is taken over once it is older than a minute.
 */
export async function withFolderLock<T>(
  folder: string,
  name: string,
  fn: () => Promise<T>,
  options: FolderLockOptions = {},
): Promise<T> {
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, name);
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let told = false;
  for (;;) {
    try {
      const handle = await open(file, 'wx', 0o644);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readHolder(file);
    if (holder.stale) {
      await rm(file, { force: true });
      continue;
    }
    if (!told) {
      told = true;
      options.onWait?.(holder.pid);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${file} is still held by process ${holder.pid ?? '(unknown)'} after ${Math.round((options.timeoutMs ?? 180_000) / 1000)} s; if no jobdeck is starting in this folder, delete the file`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}

async function readHolder(file: string): Promise<{ pid: number | null; stale: boolean }> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return { pid: null, stale: false }; // released meanwhile: try again
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0) return { pid, stale: !alive(pid) };
  // Created but not written yet, or garbage: stale only once it is old.
  const age = await stat(file).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  );
  return { pid: null, stale: age > 60_000 };
}
