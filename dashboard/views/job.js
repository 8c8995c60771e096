// /ui/jobs/<id>?level= — one job, live: figures, actions, dependencies and batch, payload and
// result, durable steps, attempts and its log (filtered by level).
import {
  DataTable,
  JobActions,
  JobProgress,
  JsonView,
  StatusBadge,
  useCaller,
} from '../components.js';
import {
  Link,
  api,
  displayKey,
  fmtDuration,
  fmtEta,
  fmtTime,
  gql,
  href,
  html,
  jobDuration,
  navigate,
  useLoad,
  useNow,
  useSubscription,
} from '../lib.js';
import { JOB_FIELDS } from './fields.js';

const LEVELS = ['debug', 'info', 'warn', 'error'];
// Job dependencies are another piece of work: the page shows them once the API has such fields.
const DEPENDENCY_FIELDS = ['dependsOn', 'waitingFor'];
let dependencySelection = null;

/** The selection that reads a field of type `type` down to ids (a list, a connection, a row). */
function selectionFor(type) {
  let t = type;
  while (t && (t.kind === 'NON_NULL' || t.kind === 'LIST')) t = t.ofType;
  if (!t || t.kind === 'SCALAR' || t.kind === 'ENUM') return '';
  if (t.name?.endsWith('Connection')) return '{ nodes { id } }';
  return '{ id }';
}

/**
 * Finds out once whether the API's Job type has dependency fields, and how to read them; without
 * introspection (or the fields) the page reads none.
 */
export async function detectDependencies(token) {
  if (dependencySelection !== null) return;
  try {
    const typeRef = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';
    const data = await gql(
      token,
      `{ __type(name: "Job") { fields { name type { ${typeRef} } } } }`,
    );
    dependencySelection = (data.__type?.fields ?? [])
      .filter((f) => DEPENDENCY_FIELDS.includes(f.name))
      .map((f) => `${f.name} ${selectionFor(f.type)}`)
      .join(' ');
  } catch {
    dependencySelection = '';
  }
}

const detailQuery = () => `query($id: UUID!) { job(id: $id) {
  ${JOB_FIELDS} payload result errors priority peakRssBytes cpuMs cancelReason steps workerId
  heldReason heldAt runAt ${dependencySelection ?? ''}
  attemptHistory { nodes { attempt startedAt finishedAt outcome message error } }
  events(first: 500, orderBy: ID_ASC) { nodes { id at kind level message step attempt } } } }`;

/** Ids out of whatever shape a dependency field has (ids, rows, a connection). */
const idsOf = (value) =>
  (Array.isArray(value) ? value : (value?.nodes ?? (value ? [value] : [])))
    .map((v) => (typeof v === 'string' ? v : v?.id))
    .filter(Boolean);

function Dependencies({ job }) {
  const present = DEPENDENCY_FIELDS.filter((f) => f in job);
  if (present.length === 0) return null;
  return html`<div class="figures" data-dependencies>
    ${present.map((field) => {
      const ids = idsOf(job[field]);
      return html`<span
        >${`${field === 'dependsOn' ? 'depends on' : 'waiting for'}: `}${
          ids.length === 0
            ? html`<span class="muted">none</span>`
            : ids.map((id) => html` <${Link} to=${href(`jobs/${id}`)}>${id.slice(0, 8)}<//>`)
        }</span
      >`;
    })}
  </div>`;
}

function Steps({ steps }) {
  if (!steps?.length) return null;
  return html`<h3>Durable steps</h3>
    <${DataTable} head=${['#', 'Step', 'Kind', 'Completed', 'Result']}>
      ${steps.map(
        (s, i) =>
          html`<tr key=${`${s.name}-${i}`}>
            <td>${i + 1}</td>
            <td>${s.name}</td>
            <td>${s.kind}${s.waitEvent ? ` (${s.waitEvent})` : ''}</td>
            <td>
              ${s.completedAt ? fmtTime(s.completedAt) : `parked until ${fmtTime(s.wakeAt)}`}${
                s.timedOut ? ' (timed out)' : ''
              }
            </td>
            <td><${JsonView} value=${s.result} empty="—" /></td>
          </tr>`,
      )}
    <//>`;
}

function Attempts({ job }) {
  const runs = job.attemptHistory.nodes;
  return html`<h3>Attempts</h3>
    ${
      runs.length === 0
        ? html`<p class="muted">Not started yet.</p>`
        : html`<${DataTable} data-attempts head=${['#', 'Outcome', 'Started', 'Took', 'Message']}>
            ${runs.map(
              (a, i) =>
                html`<tr key=${i}>
                  <td>${i + 1}</td>
                  <td><${StatusBadge} status=${a.outcome} /></td>
                  <td>${fmtTime(a.startedAt)}</td>
                  <td>
                    ${fmtDuration(
                      a.startedAt && a.finishedAt
                        ? Date.parse(a.finishedAt) - Date.parse(a.startedAt)
                        : null,
                    )}
                  </td>
                  <td>
                    ${a.message ?? ''}${
                      a.error?.stack
                        ? html`<details>
                            <summary>stack</summary>
                            <pre>${a.error.stack}</pre>
                          </details>`
                        : ''
                    }
                  </td>
                </tr>`,
            )}
          <//>`
    }`;
}

function Log({ events, level, setLevel }) {
  const min = LEVELS.indexOf(level);
  const shown = events.filter((e) => LEVELS.indexOf(e.level) >= min);
  return html`<div class="heading">
      <h3>Timeline and log</h3>
      <label class="inline"
        >Level
        <select name="level" value=${level} onChange=${(e) => setLevel(e.target.value)}>
          ${LEVELS.map((l) => html`<option value=${l}>${l} and above</option>`)}
        </select>
      </label>
    </div>
    <ol class="log" data-log-lines=${shown.length}>
      ${shown.map(
        (e) =>
          html`<li key=${e.id} class=${`log-${e.level}`}>
            <time>${fmtTime(e.at)}</time> <b>[${e.level}]</b>
            ${e.kind === 'transition' ? '→ ' : ''}${e.message}
          </li>`,
      )}
      ${shown.length === 0 && html`<li class="muted">No lines at this level.</li>`}
    </ol>`;
}

/**
 * "2 of 4": the attempts spent of the job's budget. After a manual retry the budget starts
 * again, so the label also says how many runs there were in all (it read "1/4" after two runs).
 */
export function attemptLabel(job) {
  const runs = job.attemptHistory.nodes;
  const sinceRetry = runs.filter((a) => a.attempt == null || a.attempt > job.attemptsBeforeRetry);
  const used = Math.max(job.attempts - job.attemptsBeforeRetry, sinceRetry.length);
  const budget = `${used} of ${job.maxAttempts}`;
  const total = Math.max(job.attempts, runs.length);
  return job.attemptsBeforeRetry > 0 || total > used
    ? `${budget} since the last retry, ${total} run${total === 1 ? '' : 's'} in all`
    : budget;
}

/** The job's figures as [label, value] (a value may be a link); empty ones left out. */
function jobFigures(job, now) {
  const queue = job.queue ?? 'default';
  return [
    ['attempt', attemptLabel(job)],
    ['queue', html`<${Link} to=${href(`queues/${encodeURIComponent(queue)}`)}>${queue}<//>`],
    ['priority', job.priority],
    job.key && ['key', displayKey(job.key)],
    ['owner', job.ownerId ?? '—'],
    ['created', fmtTime(job.createdAt)],
    ['started', fmtTime(job.startedAt)],
    ['finished', fmtTime(job.finishedAt)],
    ['duration', fmtDuration(jobDuration(job, now))],
    job.workerId && ['worker', job.workerId],
    ['peak memory', job.peakRssBytes ? `${Math.round(job.peakRssBytes / 1048576)} MB` : '—'],
    ['CPU', job.cpuMs ? `${job.cpuMs} ms` : '—'],
    job.batchId && [
      'batch',
      html`<${Link} to=${href(`batches/${job.batchId}`)}>${job.batchId.slice(0, 8)}<//>`,
    ],
    job.heldAt && ['held', job.heldReason],
    job.cancelReason && ['cancel reason', job.cancelReason],
  ].filter(Boolean);
}

export function JobView({ id, socket, params }) {
  const caller = useCaller();
  const now = useNow();
  const level = LEVELS.includes(params.get('level')) ? params.get('level') : 'debug';
  const {
    data: job,
    error,
    reload,
  } = useLoad(async () => {
    await detectDependencies(caller.token);
    return (await gql(caller.token, detailQuery(), { id })).job;
  }, [caller.token, id]);
  useSubscription(
    socket,
    'subscription($id: UUID!) { jobUpdated(id: $id) { kind } }',
    { id },
    reload,
  );
  const setLevel = (value) =>
    navigate(href(`jobs/${id}`, { level: value === 'debug' ? '' : value }), { replace: true });
  const afterAction = (name) => {
    if (name === 'delete') navigate(href('history'));
    else reload();
  };
  // A signed link minted for this user (docs/rest.md, "Download links"): a plain link works.
  const url = job?.result?.downloadUrl;
  const fileName = url ? url.split('?')[0].split('/').pop() : '';
  return html`<section class="panel" aria-labelledby="detail-h">
    <p><${Link} to=${href('history')}>← History<//></p>
    <h2 id="detail-h">Job ${id}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${job === null && html`<p>Not found (or not yours).</p>`}
    ${
      job &&
      html`<div data-job-id=${job.id} data-status=${job.status}>
        <div class="figures">
          <b>${job.type}</b>
          <${StatusBadge} status=${job.status} />
          <span>${job.progress}%</span>
          ${job.currentStep && html`<span class="muted">${job.currentStep}</span>`}
          ${job.status === 'running' && html`<span data-eta>ETA ${fmtEta(job, now)}</span>`}
          <${JobActions}
            job=${job}
            onDone=${afterAction}
            include=${['cancel', 'retry', 'delete']}
          />
        </div>
        <${JobProgress} job=${job} label="progress" />
        <p class="figures muted">
          ${jobFigures(job, now).map(
            ([label, value, attr]) =>
              html`<span data-figure=${attr ?? label}>${label}: ${value}</span>`,
          )}
        </p>
        <${Dependencies} job=${job} />
        <div class="two">
          <div>
            <h3>Payload</h3>
            <${JsonView} value=${job.payload} empty="No payload." />
          </div>
          <div data-result>
            <h3>Result</h3>
            ${url ? html`<p><a href=${api(url)} download=${fileName}>Download ${fileName}</a></p>` : ''}
            <${JsonView}
              value=${job.result}
              empty=${
                job.status === 'succeeded'
                  ? 'No result (the task returned nothing).'
                  : job.finishedAt
                    ? 'No result.'
                    : 'No result yet.'
              }
            />
          </div>
        </div>
        <${Steps} steps=${job.steps} />
        <${Attempts} job=${job} />
        <${Log} events=${job.events.nodes} level=${level} setLevel=${setLevel} />
      </div>`
    }
  </section>`;
}
