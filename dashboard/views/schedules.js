// /ui/schedules — the crontab's schedules with their next and last runs.
import { JsonView, useCaller } from '../components.js';
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
          : html`<div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Schedule</th>
                    <th>When (UTC)</th>
                    <th>Next run</th>
                    <th>Last run</th>
                    <th>Payload</th>
                  </tr>
                </thead>
                <tbody>
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
                </tbody>
              </table>
            </div>`)
      }
    <//>
  </section>`;
}
