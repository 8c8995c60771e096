// /ui/queues and /ui/queues/<name> — each queue's depth, running jobs, pause, limits and the last
// hour's throughput, with pause and resume (operators).
import { Sparkline } from '../charts.js';
import { DataTable, StatusBadge, useCaller } from '../components.js';
import { Link, confirmAction, fmtDuration, gql, href, html, toast, useLoad } from '../lib.js';
import { OperatorsOnly } from './operators.js';

const QUEUES_QUERY = `{ queues { name waiting running held paused pauseReason maxRunning maxStarts
  ratePeriodMs finishedPerMinute failedLastHour } }`;

const limitsOf = (q) =>
  [
    q.maxRunning != null ? `${q.maxRunning} at once` : null,
    q.maxStarts != null ? `${q.maxStarts} per ${fmtDuration(q.ratePeriodMs)}` : null,
  ]
    .filter(Boolean)
    .join(', ') || 'none';

function PauseButton({ queue, onDone }) {
  const caller = useCaller();
  const toggle = async () => {
    const verb = queue.paused ? 'Resume' : 'Pause';
    if (
      !queue.paused &&
      !(await confirmAction({
        title: `Pause queue ${queue.name}?`,
        body: 'No job of this queue starts, on any worker, until it is resumed. Running jobs finish.',
        confirmLabel: 'Pause queue',
      }))
    )
      return;
    try {
      const mutation = queue.paused
        ? 'mutation($q: String!) { resumeQueue(queue: $q) { released } }'
        : 'mutation($q: String!) { pauseQueue(queue: $q, reason: "from the dashboard") { held } }';
      const data = await gql(caller.token, mutation, { q: queue.name });
      toast(
        queue.paused
          ? `Resumed ${queue.name}: ${data.resumeQueue.released} jobs released`
          : `Paused ${queue.name}: ${data.pauseQueue.held} jobs held`,
      );
      onDone();
    } catch (e) {
      toast(`${verb} failed: ${e.message}`, 'error');
    }
  };
  return html`<button
    class=${queue.paused ? '' : 'danger'}
    onClick=${toggle}
    aria-label=${`${queue.paused ? 'Resume' : 'Pause'} queue ${queue.name}`}
  >
    ${queue.paused ? 'Resume' : 'Pause'}
  </button>`;
}

function useQueues(version) {
  const caller = useCaller();
  return useLoad(
    async () => (await gql(caller.token, QUEUES_QUERY)).queues,
    [caller.token, version],
  );
}

export function QueuesView({ version }) {
  const { data: queues, error, reload } = useQueues(version);
  return html`<section class="panel" aria-labelledby="queues-h">
    <h2 id="queues-h">Queues</h2>
    <${OperatorsOnly} error=${error}>
      ${
        queues &&
        (queues.length === 0
          ? html`<p class="muted">No queues with jobs yet.</p>`
          : html`<${DataTable}
              head=${['Queue', 'Waiting', 'Running', 'State', 'Limits', 'Last hour', '']}
            >
              ${queues.map(
                (q) =>
                  html`<tr key=${q.name} data-queue=${q.name}>
                    <td>
                      <${Link} to=${href(`queues/${encodeURIComponent(q.name)}`)}>${q.name}<//>
                    </td>
                    <td>
                      ${q.waiting}${q.held ? html` <span class="muted">(${q.held} held)</span>` : ''}
                    </td>
                    <td>${q.running}</td>
                    <td>
                      ${
                        q.paused
                          ? html`<span class="status paused" title=${q.pauseReason ?? ''}
                              >paused</span
                            >`
                          : html`<span class="status running">active</span>`
                      }
                    </td>
                    <td>${limitsOf(q)}</td>
                    <td>
                      <${Sparkline}
                        values=${q.finishedPerMinute}
                        label=${`${q.name} finished per minute`}
                      />
                    </td>
                    <td><${PauseButton} queue=${q} onDone=${reload} /></td>
                  </tr>`,
              )}
            <//>`)
      }
    <//>
  </section>`;
}

export function QueueView({ name, jobs, version }) {
  const { data: queues, error, reload } = useQueues(version);
  const queue = queues?.find((q) => q.name === name);
  const active = (jobs ?? []).filter((j) => (j.queue ?? 'default') === name);
  return html`<section class="panel" aria-labelledby="queue-h">
    <p><${Link} to=${href('queues')}>← Queues<//></p>
    <h2 id="queue-h">Queue ${name}</h2>
    <${OperatorsOnly} error=${error}>
      ${queues && !queue && html`<p class="muted">No such queue now.</p>`}
      ${
        queue &&
        html`<div class="figures" data-queue=${queue.name}>
            <span>waiting: <b>${queue.waiting}</b></span>
            <span>running: <b>${queue.running}</b></span>
            <span>held: <b>${queue.held}</b></span>
            <span
              >${queue.paused ? html`<span class="status paused">paused</span> ${queue.pauseReason ?? ''}` : 'not paused'}</span
            >
            <span>limits: ${limitsOf(queue)}</span>
            <span>failed in the last hour: <b>${queue.failedLastHour}</b></span>
            <${PauseButton} queue=${queue} onDone=${reload} />
          </div>
          <h3>Finished per minute, last hour</h3>
          <${Sparkline}
            values=${queue.finishedPerMinute}
            label=${`${queue.name} finished per minute`}
          />`
      }
    <//>
    <h3>Active jobs in ${name}</h3>
    ${
      active.length === 0
        ? html`<p class="muted">None you can see.</p>`
        : html`<ul class="plain">
            ${active.map(
              (j) =>
                html`<li key=${j.id}>
                  <${Link} to=${href(`jobs/${j.id}`)}>${j.type}<//>
                  <${StatusBadge} status=${j.status} />
                  ${j.progress}%
                </li>`,
            )}
          </ul>`
    }
  </section>`;
}
