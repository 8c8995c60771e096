import path from 'node:path';
import { spawnJobdeck, stopProcess, type JobdeckProcess, type ProcessKind } from './processes.ts';

/** A child that died on its own, and the process started in its place. */
export interface Replacement {
  name: string;
  exit: string;
  at: string;
  replaced_by: string;
}

/** The settings every soak child gets on top of the parent's environment. */
export interface FleetOptions {
  env: Record<string, string>;
  logsDir: string;
  say: (line: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The soak's jobdeck processes, kept as a process supervisor (systemd, Kubernetes) would keep
 * them: a child that exits on its own is recorded and replaced, retried every 2 s while it cannot
 * start (the database may be down). A child the soak kills on purpose is not replaced.
 */
export class Fleet {
  readonly processes: JobdeckProcess[] = [];
  readonly replacements: Replacement[] = [];
  readonly #options: FleetOptions;
  #stopping = false;

  constructor(options: FleetOptions) {
    this.#options = options;
  }

  /** The environment of a child: the parent's minus its jobdeck settings, plus the soak's. */
  static environment(settings: Record<string, string>): Record<string, string> {
    const inherited = Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined &&
        !entry[0].startsWith('JOBDECK_') &&
        !entry[0].endsWith('DATABASE_URL'),
    );
    return { ...Object.fromEntries(inherited), ...settings };
  }

  workers(): JobdeckProcess[] {
    return this.processes.filter((p) => p.kind === 'worker');
  }

  /** Starts a child and waits until it is ready; `extra` adds to its environment. */
  async start(name: string, kind: ProcessKind, extra: Record<string, string> = {}) {
    const { env, logsDir } = this.#options;
    const p = await spawnJobdeck({
      name,
      kind,
      env: { ...env, ...extra },
      logFile: path.join(logsDir, `${name}.log`),
    });
    this.processes.push(p);
    void p.exited.then(() => this.#replace(p, extra));
    return p;
  }

  async #replace(p: JobdeckProcess, extra: Record<string, string>): Promise<void> {
    if (p.expectedExit || this.#stopping) return;
    const next = `${p.name.replace(/\.r\d+$/, '')}.r${this.replacements.length + 1}`;
    const exit = p.exit?.signal ?? `code ${p.exit?.code}`;
    const at = new Date(p.exit?.at ?? Date.now()).toISOString();
    this.replacements.push({ name: p.name, exit, at, replaced_by: next });
    const { say } = this.#options;
    say(
      `${p.name} exited unexpectedly (${exit}; see soak/results/logs/${p.name}.log); starting ${next}`,
    );
    for (let attempt = 1; attempt <= 15 && !this.#stopping; attempt++) {
      try {
        await this.start(next, p.kind, extra);
        return;
      } catch (error) {
        say(`could not start ${next} (attempt ${attempt}): ${(error as Error).message}`);
        await sleep(2000);
      }
    }
  }

  /** SIGTERM to every child (SIGKILL after `graceMs`); nothing is replaced from now on. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.processes.map((p) => stopProcess(p, graceMs).catch(() => {})));
  }

  /** Last resort on a second Ctrl-C. */
  killAll(): void {
    this.#stopping = true;
    for (const p of this.processes) p.child.kill('SIGKILL');
  }
}
