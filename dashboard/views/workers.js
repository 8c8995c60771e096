// /ui/workers — each worker process: its heartbeat, running jobs and last seen.
import { DataTable, useCaller } from '../components.js';
import { Link, fmtRelative, fmtTime, gql, href, html, useLoad, useNow } from '../lib.js';
import { OperatorsOnly } from './operators.js';

const WORKERS_QUERY = `{ workers { id hostname pid concurrency taskTypes startedAt heartbeatAt
  stoppingAt rssBytes runningJobIds } }`;
/** A heartbeat older than this reads as late (workers beat every few seconds). */
const LATE_MS = 30_000;

export function WorkersView({ version }) {
  const caller = useCaller();
  const now = useNow(5000);
  const { data: workers, error } = useLoad(
    async () => (await gql(caller.token, WORKERS_QUERY)).workers,
    [caller.token, version, Math.floor(now / 10_000)],
  );
  return html`<section class="panel" aria-labelledby="workers-h">
    <h2 id="workers-h">Workers</h2>
    <${OperatorsOnly} error=${error}>
      ${
        workers &&
        (workers.length === 0
          ? html`<p class="muted">No worker process is running.</p>`
          : html`<${DataTable}
              head=${['Process', 'State', 'Last seen', 'Running', 'Started', 'Memory']}
            >
              ${workers.map((w) => {
                const late = now - Date.parse(w.heartbeatAt) > LATE_MS;
                const state = w.stoppingAt ? 'stopping' : late ? 'late' : 'alive';
                return html`<tr key=${w.id} data-worker=${w.id}>
                  <td>
                    <b>${w.id}</b>
                    <div class="muted">${w.hostname} · pid ${w.pid} · ${w.concurrency} slots</div>
                  </td>
                  <td>
                    <span class=${`status ${state === 'alive' ? 'succeeded' : 'failed'}`}
                      >${state}</span
                    >
                  </td>
                  <td title=${fmtTime(w.heartbeatAt)}>${fmtRelative(w.heartbeatAt, now)}</td>
                  <td>
                    ${
                      w.runningJobIds.length === 0
                        ? html`<span class="muted">idle</span>`
                        : w.runningJobIds.map(
                            (id) =>
                              html`<${Link} key=${id} to=${href(`jobs/${id}`)}
                                >${id.slice(0, 8)}<//
                              > `,
                          )
                    }
                  </td>
                  <td>${fmtTime(w.startedAt)}</td>
                  <td>${w.rssBytes ? `${Math.round(w.rssBytes / 1048576)} MB` : '—'}</td>
                </tr>`;
              })}
            <//>`)
      }
    <//>
  </section>`;
}
