// Pieces several views show: who is calling (and what they may do), a job's status, progress and
// actions, and a JSON viewer that folds large values.
import { createContext } from 'preact';
import { useContext, useState } from 'preact/hooks';
import { STATES, confirmAction, gql, html, toast } from './lib.js';

/**
 * The signed-in caller: `token` (null when the application's session identifies them), `who`,
 * `can(permission)`, `isAdmin`, `isOperator` (may read queues, workers, schedules and pause).
 * Buttons show only for what the caller may do; the server checks again.
 */
export const Caller = createContext(null);
export const useCaller = () => useContext(Caller);

/** Whether a role with an optional `permissions` list may do `permission` (docs/graphql.md). */
export const allows = (permissions, permission) =>
  !Array.isArray(permissions) || permissions.includes(permission);

export const StatusBadge = ({ status }) =>
  html`<span class=${`status ${status}`} data-status-badge=${status}>${status}</span>`;

/** A job's progress bar, coloured by its status (a failed job's bar is not left blue). */
export const JobProgress = ({ job, label }) =>
  html`<progress
    class=${`bar ${job.status}`}
    max="100"
    value=${job.progress}
    aria-label=${label ?? `${job.type} progress`}
  >
    ${job.progress}%
  </progress>`;

const short = (id) => id.slice(0, 8);

/** What each action asks, says and sends. */
const ACTIONS = {
  cancel: {
    mutation: 'cancelJob',
    label: 'Cancel',
    permission: 'jobs.cancel_jobs',
    allowed: (job) => STATES.cancellable.includes(job.status) && !job.cancelRequestedAt,
    ask: (job) => ({
      title: `Cancel ${job.type} job ${short(job.id)}?`,
      body:
        job.status === 'running'
          ? 'Its worker is told to stop; what the job did so far stays done.'
          : 'It will not run.',
      confirmLabel: 'Cancel job',
    }),
    done: (job, result) =>
      result?.status === 'cancelled'
        ? `Cancelled ${job.type} job ${short(job.id)}`
        : `Asked ${job.type} job ${short(job.id)} to stop`,
  },
  retry: {
    mutation: 'retryJob',
    label: 'Retry',
    permission: 'jobs.retry_jobs',
    allowed: (job) => STATES.retryable.includes(job.status),
    ask: null,
    done: (job) => `Queued ${job.type} job ${short(job.id)} again`,
  },
  delete: {
    mutation: 'deleteJob',
    label: 'Delete',
    permission: 'jobs.cancel_jobs',
    allowed: (job) => STATES.finished.includes(job.status),
    ask: (job) => ({
      title: `Delete ${job.type} job ${short(job.id)}?`,
      body: 'Its payload, result, attempts and log are removed for good.',
      confirmLabel: 'Delete job',
    }),
    done: (job) => `Deleted ${job.type} job ${short(job.id)}`,
  },
};

/** Runs one action on one job; returns the job's new status (null when deleted). */
export async function runAction(token, name, id) {
  const { mutation } = ACTIONS[name];
  const selection = name === 'delete' ? 'deletedJobId' : 'job { id status }';
  const data = await gql(
    token,
    `mutation($id: UUID!) { ${mutation}(input: { id: $id }) { ${selection} } }`,
    { id },
  );
  return data[mutation].job ?? null;
}

/**
 * Cancel, Retry and Delete for one job, as its status and the caller's permissions allow; each
 * destructive one asks first, and each says what happened (a toast, and its error inline).
 */
export function JobActions({ job, onDone, include = ['cancel', 'retry'] }) {
  const caller = useCaller();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const act = async (name) => {
    const action = ACTIONS[name];
    if (action.ask && !(await confirmAction(action.ask(job)))) return;
    setBusy(true);
    setError(null);
    try {
      const result = await runAction(caller.token, name, job.id);
      toast(action.done(job, result));
      onDone?.(name, result);
    } catch (e) {
      setError(e.message);
      toast(`${action.label} failed: ${e.message}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="actions">
    ${
      job.cancelRequestedAt &&
      STATES.cancellable.includes(job.status) &&
      html`<span class="muted">Cancelling…</span>`
    }
    ${include.map((name) => {
      const action = ACTIONS[name];
      if (!action.allowed(job) || !caller.can(action.permission)) return null;
      return html`<button
        key=${name}
        class=${name === 'retry' ? '' : 'danger'}
        disabled=${busy}
        onClick=${() => act(name)}
        aria-label=${`${action.label} ${job.type} job ${job.id}`}
      >
        ${action.label}
      </button>`;
    })}
    ${error && html` <span class="error" role="alert">${error}</span>`}
  </span>`;
}

/** Which of `ids` an action applies to, asked once for all; reports how many it did. */
export async function runBulk(token, name, jobs) {
  const action = ACTIONS[name];
  const eligible = jobs.filter(action.allowed);
  if (eligible.length === 0) {
    toast(
      `None of the selected jobs can be ${name === 'retry' ? 'retried' : 'cancelled'}`,
      'error',
    );
    return 0;
  }
  const ok = await confirmAction({
    title: `${action.label} ${eligible.length} job${eligible.length === 1 ? '' : 's'}?`,
    body:
      eligible.length < jobs.length
        ? `${jobs.length - eligible.length} of the selection cannot be, and are left as they are.`
        : null,
    confirmLabel: `${action.label} ${eligible.length}`,
    danger: name !== 'retry',
  });
  if (!ok) return 0;
  const failures = [];
  for (const job of eligible) {
    try {
      await runAction(token, name, job.id);
    } catch (e) {
      failures.push(e.message);
    }
  }
  const done = eligible.length - failures.length;
  const verb = name === 'retry' ? 'Retried' : 'Cancelled';
  toast(
    failures.length
      ? `${verb} ${done} of ${eligible.length}; ${failures.length} failed: ${failures[0]}`
      : `${verb} ${done} job${done === 1 ? '' : 's'}`,
    failures.length ? 'error' : 'ok',
  );
  return done;
}

/** Whether a JSON value is big enough to start folded. */
const isLarge = (value) => JSON.stringify(value ?? null).length > 400;

/**
 * A JSON value: scalars inline; objects and arrays as folding sections, open at the top unless
 * large. `null`/undefined read as `empty` (not a raw "null").
 */
export function JsonView({ value, empty = 'none', name, depth = 0 }) {
  if (value === null || value === undefined)
    return depth === 0
      ? html`<p class="muted">${empty}</p>`
      : html`<span class="json-null">null</span>`;
  if (typeof value !== 'object') {
    const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
    return html`<span class=${`json-${typeof value}`}>${text}</span>`;
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  if (entries.length === 0) return html`<span>${Array.isArray(value) ? '[]' : '{}'}</span>`;
  const open = depth === 0 ? !isLarge(value) || entries.length <= 8 : !isLarge(value) && depth < 3;
  return html`<details class="json" open=${open}>
    <summary>${name !== undefined ? html`<b>${name}</b> ` : ''}${summary}</summary>
    <ul>
      ${entries.map(
        ([key, v]) =>
          html`<li key=${key}>
            ${
              v !== null && typeof v === 'object'
                ? html`<${JsonView} value=${v} name=${key} depth=${depth + 1} />`
                : html`<b>${key}</b>: <${JsonView} value=${v} depth=${depth + 1} />`
            }
          </li>`,
      )}
    </ul>
  </details>`;
}

/**
 * A table that scrolls sideways on a narrow screen instead of widening the page. `head`: the
 * column headings, each a label, a vnode, or [label, title].
 */
export function DataTable({ head, children, ...rest }) {
  return html`<div class="table-wrap">
    <table ...${rest}>
      <thead>
        <tr>
          ${head.map((h) =>
            Array.isArray(h) ? html`<th title=${h[1]}>${h[0]}</th>` : html`<th>${h}</th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${children}
      </tbody>
    </table>
  </div>`;
}
