// /ui/schedules — the crontab's schedules with their next and last runs.
import { DataTable, JsonView, useCaller } from '../components.js';
import { fmtRelative, fmtTime, gql, html, useLoad, useNow } from '../lib.js';
import { OperatorsOnly } from './operators.js';

export function SchedulesView({ version }) {
  const caller = useCaller();
  const now = useNow(10_000);
  const { data: schedules, error } = useLoad(
    async () =>
      (
        await gql(
          caller.token,
          '{ cronSchedules { identifier task pattern payload nextRunAt lastRunAt } }',
        )
      ).cronSchedules,
    [caller.token, version],
  );
  return html`<section class="panel" aria-labelledby="schedules-h">
    <h2 id="schedules-h">Cron schedules</h2>
    <${OperatorsOnly} error=${error}>
      ${
        schedules &&
        (schedules.length === 0
          ? html`<p class="muted">The crontab has no schedules (JOBDECK_CRONTAB).</p>`
          : html`<${DataTable}
              head=${['Schedule', 'When (UTC)', 'Next run', 'Last run', 'Payload']}
            >
              ${schedules.map(
                (s) =>
                  html`<tr key=${s.identifier} data-schedule=${s.identifier}>
                    <td>
                      <b>${s.task}</b
                      >${s.identifier !== s.task ? html`<div class="muted">${s.identifier}</div>` : ''}
                    </td>
                    <td><code>${s.pattern}</code></td>
                    <td data-next-run>
                      ${fmtTime(s.nextRunAt)}
                      <div class="muted">${fmtRelative(s.nextRunAt, now)}</div>
                    </td>
                    <td>
                      ${s.lastRunAt ? fmtTime(s.lastRunAt) : html`<span class="muted">never</span>`}
                    </td>
                    <td><${JsonView} value=${s.payload} empty="—" /></td>
                  </tr>`,
              )}
            <//>`)
      }
    <//>
  </section>`;
}
