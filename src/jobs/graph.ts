import type { Job } from '../db/types.ts';
import { queryRows, type Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';
import { translateDatabaseError } from './db-errors.ts';
import { checkDependencyPolicy, specJson, type EnqueueSettings, type JobSpec } from './enqueue.ts';
import type { DependencyFailurePolicy } from './states.ts';

/** One job of {@link JobGraph}: a job spec whose `dependsOn` names refs of the graph or job ids. */
export interface GraphJobSpec extends JobSpec {
  /** Refs of other jobs of the same graph, or ids of existing jobs, this one waits for. */
  dependsOn?: readonly string[];
}

/** Jobs that depend on each other, enqueued in one call ({@link enqueueGraphOn}). */
export interface JobGraph {
  /** Each job by a ref of your choosing (1 to 200 characters), at most 1000 jobs. */
  jobs: Readonly<Record<string, GraphJobSpec>>;
}

/** A parent's outcome as a dependant reads it (`ctx.parents()`). */
export interface ParentResult {
  id: string;
  type: string;
  status: Job['status'];
  result: unknown;
}

/**
 * Enqueues a graph of jobs in one statement (`jobdeck.enqueue_graph`), all or none, on
 * `executor` (the caller's transaction, if given): a job is `waiting` until the jobs it depends
 * on have succeeded. Refs that form a cycle are refused (naming them), so are refs that name no
 * job of the graph. Returns each ref's job.
 *
 * ```ts
 * const { a, d } = await enqueueGraphOn(pool, { jobs: {
 *   a: { type: 'fetch' },
 *   b: { type: 'left', dependsOn: ['a'] },
 *   c: { type: 'right', dependsOn: ['a'] },
 *   d: { type: 'join', dependsOn: ['b', 'c'] },
 * } });
 * ```
 */
export async function enqueueGraphOn(
  executor: Executor,
  graph: JobGraph,
  settings: EnqueueSettings = {},
): Promise<Record<string, Job>> {
  const jobs = graph?.jobs;
  if (typeof jobs !== 'object' || jobs === null || Array.isArray(jobs))
    throw new InvalidArgumentError('enqueueGraph expects { jobs: { <ref>: <job spec> } }');
  const refs = Object.keys(jobs);
  if (refs.length === 0) throw new InvalidArgumentError('enqueueGraph needs at least one job');
  if (refs.length > 1000)
    throw new InvalidArgumentError(`enqueueGraph takes at most 1000 jobs, got ${refs.length}`);
  const body = refs.map((ref) => {
    const spec = jobs[ref]!;
    try {
      if (ref.length > 200) throw new InvalidArgumentError('a ref is at most 200 characters');
      if (typeof spec !== 'object' || spec === null)
        throw new InvalidArgumentError('the job spec must be an object');
      const dependsOn = checkRefs(spec, jobs);
      const json = specJson(spec, settings);
      const extra = JSON.stringify({
        ref,
        dependsOn,
        onDependencyFailure: spec.onDependencyFailure ?? null,
      });
      return `${extra.slice(0, -1)},${json.slice(1)}`;
    } catch (error) {
      (error as Error).message = `jobs.${ref}: ${(error as Error).message}`;
      throw error;
    }
  });
  let rows: { ref: string; id: string }[];
  try {
    rows = await queryRows(executor, 'select * from jobdeck.enqueue_graph($1::jsonb)', [
      `[${body.join(',')}]`,
    ]);
  } catch (error) {
    const ref = /^jobs\.([^:]+):/.exec((error as Error).message ?? '')?.[1];
    const type = (ref !== undefined ? jobs[ref]?.type : undefined) ?? '';
    throw translateDatabaseError(error, { type, hint: true }) ?? error;
  }
  return jobsByRef(executor, rows);
}

/**
 * The jobs a graph call made, by ref. A statement of its own: the rows the call inserted are not
 * visible within the statement that called it.
 */
async function jobsByRef(
  executor: Executor,
  made: readonly { ref: string; id: string }[],
): Promise<Record<string, Job>> {
  const read = await queryRows<Job>(
    executor,
    'select * from jobdeck.jobs where id = any($1::uuid[])',
    [made.map((row) => row.id)],
  );
  const byId = new Map(read.map((job) => [job.id, job]));
  return Object.fromEntries(made.map((row) => [row.ref, byId.get(row.id)!]));
}

/** The checked `dependsOn` of a graph job: strings, each a ref or (checked by SQL) a job id. */
function checkRefs(spec: GraphJobSpec, jobs: JobGraph['jobs']): string[] | null {
  const { dependsOn } = spec;
  checkDependencyPolicy(spec.onDependencyFailure);
  if (dependsOn === undefined || dependsOn === null) return null;
  if (!Array.isArray(dependsOn))
    throw new InvalidArgumentError('dependsOn must be an array of refs or job ids');
  for (const dep of dependsOn as unknown[]) {
    if (typeof dep !== 'string' || dep === '')
      throw new InvalidArgumentError('dependsOn must list refs of this graph or job ids');
    if (dep in jobs && jobs[dep] === spec)
      throw new InvalidArgumentError(`a job cannot depend on itself ("${dep}")`);
  }
  return [...dependsOn];
}

/**
 * The jobs `jobId` depends on, with their results (`ctx.parents()` in a task): each dependency's
 * id, type, status and result, in the order of `depends_on`. Empty for a job without
 * dependencies.
 */
export async function readParents(executor: Executor, jobId: string): Promise<ParentResult[]> {
  return queryRows<ParentResult>(
    executor,
    `select p.id, p.type, p.status, p.result
       from jobdeck.jobs j
       cross join lateral unnest(j.depends_on) with ordinality d(id, n)
       join jobdeck.jobs p on p.id = d.id
      where j.id = $1
      order by d.n`,
    [jobId],
  );
}

/** One job of {@link CallerJobGraph}: what an API caller may set (as `enqueueJob` over GraphQL). */
export interface CallerGraphJobSpec {
  type: string;
  payload?: Record<string, unknown>;
  priority?: number;
  runAt?: string | Date;
  maxAttempts?: number;
  key?: string;
  /** Refs of other jobs of the same graph, or ids of the caller's existing jobs. */
  dependsOn?: readonly string[];
  onDependencyFailure?: DependencyFailurePolicy;
}

/** A graph enqueued as the signed-in API caller ({@link enqueueGraphAsCaller}). */
export interface CallerJobGraph {
  jobs: Readonly<Record<string, CallerGraphJobSpec>>;
}

/**
 * Enqueues a graph as the signed-in API caller (REST's `POST /api/v2/job-graphs`), through
 * `jobdeck.enqueue_job_graph` on `executor`, the request's row-level-security connection: owner and
 * organisation from the token, keys within the caller's own jobs, dependencies only on jobs the
 * caller may see; all or none. Returns each ref's job.
 */
export async function enqueueGraphAsCaller(
  executor: Executor,
  graph: CallerJobGraph,
): Promise<Record<string, Job>> {
  const jobs = Object.entries(graph.jobs).map(([ref, spec]) => ({ ref, ...spec }));
  try {
    const made = await queryRows<{ ref: string; id: string }>(
      executor,
      'select * from jobdeck.enqueue_job_graph($1::jsonb)',
      [JSON.stringify(jobs)],
    );
    return await jobsByRef(executor, made);
  } catch (error) {
    throw translateDatabaseError(error) ?? error;
  }
}
