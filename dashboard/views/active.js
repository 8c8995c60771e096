// /ui/ — the active jobs, live, grouped by queue and sortable (?sort=…).
import { JobActions, JobProgress, StatusBadge } from '../components.js';
import { Link, fmtDuration, fmtEta, href, html, navigate, useNow } from '../lib.js';

const SORTS = {
  newest: ['newest first', (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)],
  oldest: ['oldest first', (a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt)],
  progress: ['most progress', (a, b) => b.progress - a.progress],
  type: ['task type', (a, b) => a.type.localeCompare(b.type)],
  status: ['status', (a, b) => a.status.localeCompare(b.status)],
};

/** The jobs by queue (`default` for none), queues by name. */
export function groupByQueue(jobs, compare) {
  const groups = new Map();
  for (const job of [...jobs].sort(compare)) {
    const queue = job.queue ?? 'default';
    if (!groups.has(queue)) groups.set(queue, []);
    groups.get(queue).push(job);
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function ActiveJob({ job, now, reload }) {
  return html`<article class="job" data-job-id=${job.id} data-status=${job.status}>
    <div class="line">
      <${Link} to=${href(`jobs/${job.id}`)} aria-label=${`Open ${job.type} job ${job.id}`}
        >${job.type}<//
      >
      <${StatusBadge} status=${job.status} />
      <span>${job.progress}%</span>
      <span class="muted">${job.currentStep ?? ''}</span>
      <span class="muted"
        >elapsed ${fmtDuration(job.startedAt ? now - Date.parse(job.startedAt) : null)}</span
      >
      <span class="muted" data-eta>ETA ${fmtEta(job, now)}</span>
      <${JobActions} job=${job} onDone=${reload} />
    </div>
    <${JobProgress} job=${job} />
  </article>`;
}

export function ActiveView({ jobs, params, reload }) {
  const now = useNow();
  const sort = SORTS[params.get('sort')] ? params.get('sort') : 'newest';
  const setSort = (value) =>
    navigate(href('', { sort: value === 'newest' ? '' : value }), { replace: true });
  return html`<section class="panel" aria-labelledby="active-h">
    <div class="heading">
      <h2 id="active-h">Active jobs</h2>
      <label class="inline"
        >Sort
        <select name="sort" value=${sort} onChange=${(e) => setSort(e.target.value)}>
          ${Object.entries(SORTS).map(([key, [label]]) => html`<option value=${key}>${label}</option>`)}
        </select>
      </label>
    </div>
    ${
      jobs === null
        ? html`<p class="muted">Loading…</p>`
        : jobs.length === 0
          ? html`<p class="muted">No active jobs.</p>`
          : groupByQueue(jobs, SORTS[sort][1]).map(
              ([queue, list]) =>
                html`<section class="queue-group" key=${queue} aria-label=${`queue ${queue}`}>
                  <h3>
                    <${Link} to=${href(`queues/${encodeURIComponent(queue)}`)}>${queue}<//>
                    <span class="muted"> · ${list.length}</span>
                  </h3>
                  ${list.map(
                    (job) =>
                      html`<${ActiveJob} key=${job.id} job=${job} now=${now} reload=${reload} />`,
                  )}
                </section>`,
            )
    }
  </section>`;
}
