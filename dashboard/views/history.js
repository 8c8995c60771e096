// /ui/history?status=&type=&from=&to=&order=&after=|before= — every job, filtered and paged by
// the URL, with bulk retry and cancel on a selection.
import { useMemo, useState } from 'preact/hooks';
import { DataTable, JobActions, StatusBadge, runBulk, useCaller } from '../components.js';
import {
  ALL_STATUSES,
  Link,
  errorSnippet,
  fmtDuration,
  fmtTime,
  gql,
  href,
  html,
  jobDuration,
  navigate,
  useLoad,
} from '../lib.js';
import { JOB_FIELDS } from './fields.js';

const PAGE = 20;
const ORDERS = {
  CREATED_AT_DESC: 'newest first',
  CREATED_AT_ASC: 'oldest first',
  STATUS_ASC: 'status',
  PRIORITY_ASC: 'priority',
};
const FILTERS = ['status', 'type', 'from', 'to', 'order'];

const HISTORY_QUERY = `query($first: Int, $last: Int, $after: Cursor, $before: Cursor,
  $orderBy: [JobOrderBy!], $filter: JobFilter) {
  jobs(first: $first, last: $last, after: $after, before: $before, orderBy: $orderBy, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { ${JOB_FIELDS} errors cancelReason } } }`;

/** The GraphQL filter for the URL's filters (null for none: the API refuses an empty one). */
export function historyFilter(params) {
  const f = {};
  if (params.get('status')) f.status = { equalTo: params.get('status') };
  if (params.get('type')) f.type = { includesInsensitive: params.get('type') };
  const from = params.get('from');
  const to = params.get('to');
  if (from || to) f.createdAt = {};
  if (from) f.createdAt.greaterThanOrEqualTo = new Date(from).toISOString();
  if (to) f.createdAt.lessThan = new Date(to).toISOString();
  return Object.keys(f).length ? f : null;
}

export function HistoryView({ params, version }) {
  const caller = useCaller();
  const key = params.toString();
  const filter = useMemo(() => historyFilter(params), [key]);
  const order = ORDERS[params.get('order')] ? params.get('order') : 'CREATED_AT_DESC';
  const [selected, setSelected] = useState(new Map());
  const {
    data: page,
    error,
    reload,
  } = useLoad(async () => {
    const variables = { orderBy: [order] };
    if (params.get('before'))
      Object.assign(variables, { last: PAGE, before: params.get('before') });
    else Object.assign(variables, { first: PAGE, after: params.get('after') || null });
    if (filter) variables.filter = filter;
    return (await gql(caller.token, HISTORY_QUERY, variables)).jobs;
  }, [caller.token, key, version]);
  const values = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? '']));
  // a filter change starts again at the first page, and replaces the entry while typing
  const setFilter = (name, value, replace = false) => {
    setSelected(new Map());
    navigate(href('history', { ...values, [name]: value }), { replace });
  };
  const toggle = (job) =>
    setSelected((map) => {
      const next = new Map(map);
      if (next.has(job.id)) next.delete(job.id);
      else next.set(job.id, job);
      return next;
    });
  const allOnPage = page?.nodes.length > 0 && page.nodes.every((j) => selected.has(j.id));
  const selectPage = () =>
    setSelected(allOnPage ? new Map() : new Map(page.nodes.map((j) => [j.id, j])));
  const selectMatching = async () => {
    const variables = { first: 500, orderBy: [order] };
    if (filter) variables.filter = filter;
    const all = (await gql(caller.token, HISTORY_QUERY, variables)).jobs.nodes;
    setSelected(new Map(all.map((j) => [j.id, j])));
  };
  const bulk = async (name) => {
    const done = await runBulk(caller.token, name, [...selected.values()]);
    if (done > 0) setSelected(new Map());
    reload();
  };
  const canRetry = caller.can('jobs.retry_jobs');
  const canCancel = caller.can('jobs.cancel_jobs');
  return html`<section class="panel" aria-labelledby="history-h">
    <h2 id="history-h">History</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Status
        <select
          name="status"
          value=${values.status}
          onChange=${(e) => setFilter('status', e.target.value)}
        >
          <option value="">any</option>
          ${ALL_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label
      >
      <label
        >Type
        <input
          name="type"
          value=${values.type}
          onInput=${(e) => setFilter('type', e.target.value, true)}
      /></label>
      <label
        >From
        <input
          type="datetime-local"
          name="from"
          value=${values.from}
          onInput=${(e) => setFilter('from', e.target.value, true)}
      /></label>
      <label
        >To
        <input
          type="datetime-local"
          name="to"
          value=${values.to}
          onInput=${(e) => setFilter('to', e.target.value, true)}
      /></label>
      <label
        >Sort
        <select name="order" value=${order} onChange=${(e) => setFilter('order', e.target.value)}>
          ${Object.entries(ORDERS).map(([v, label]) => html`<option value=${v}>${label}</option>`)}
        </select></label
      >
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      page &&
      html`<div class="filters bulk">
          <span class="muted" data-total=${page.totalCount}>${page.totalCount} jobs</span>
          ${
            (canRetry || canCancel) &&
            html`<span data-selected=${selected.size}>${selected.size} selected</span>
              <button onClick=${selectMatching} disabled=${page.totalCount === 0}>
                Select all ${Math.min(page.totalCount, 500)} matching
              </button>
              ${
                canRetry &&
                html`<button disabled=${selected.size === 0} onClick=${() => bulk('retry')}>
                  Retry selected
                </button>`
              }
              ${
                canCancel &&
                html`<button
                  class="danger"
                  disabled=${selected.size === 0}
                  onClick=${() => bulk('cancel')}
                >
                  Cancel selected
                </button>`
              }`
          }
        </div>
        <${DataTable}
          class="history"
          head=${[html`<input type="checkbox" aria-label="Select every job on this page" checked=${allOnPage} onChange=${selectPage} />`, 'Type', 'Status', 'Duration', 'Progress', 'Created', 'Finished', 'Owner', '']}
        >
          ${page.nodes.map(
            (job) =>
              html`<tr key=${job.id} data-job-id=${job.id} class=${`row-${job.status}`}>
                <td>
                  <input
                    type="checkbox"
                    aria-label=${`Select ${job.type} job ${job.id}`}
                    checked=${selected.has(job.id)}
                    onChange=${() => toggle(job)}
                  />
                </td>
                <td>
                  <${Link}
                    to=${href(`jobs/${job.id}`)}
                    aria-label=${`Open ${job.type} job ${job.id}`}
                    >${job.type}<//
                  >
                  ${
                    (job.status === 'failed' || job.status === 'retrying') &&
                    errorSnippet(job) &&
                    html`<div class="snippet" data-error-snippet>${errorSnippet(job)}</div>`
                  }
                </td>
                <td><${StatusBadge} status=${job.status} /></td>
                <td data-duration>${fmtDuration(jobDuration(job))}</td>
                <td>${job.progress}%</td>
                <td>${fmtTime(job.createdAt)}</td>
                <td>${fmtTime(job.finishedAt)}</td>
                <td>${job.ownerId ?? ''}</td>
                <td><${JobActions} job=${job} onDone=${reload} /></td>
              </tr>`,
          )}
        <//>
        <div class="filters">
          <button
            disabled=${!(params.get('after') || (params.get('before') && page.pageInfo.hasPreviousPage))}
            onClick=${() => navigate(href('history', { ...values, before: page.pageInfo.startCursor }))}
          >
            Previous
          </button>
          <button
            disabled=${!page.pageInfo.hasNextPage && !params.get('before')}
            onClick=${() => navigate(href('history', { ...values, after: page.pageInfo.endCursor }))}
          >
            Next
          </button>
        </div>`
    }
  </section>`;
}
