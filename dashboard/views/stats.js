// /ui/stats?range=1h|24h|7d — counts, queue figures, throughput and failures over time, and
// per-type duration percentiles.
import { DurationChart, ThroughputChart } from '../charts.js';
import { DataTable, useCaller } from '../components.js';
import { fmtDuration, gql, href, html, navigate, useLoad } from '../lib.js';

const RANGES = {
  '1h': ['last hour', 3600],
  '24h': ['last 24 hours', 86400],
  '7d': ['last 7 days', 7 * 86400],
};

export function StatsView({ params, version }) {
  const caller = useCaller();
  const range = RANGES[params.get('range')] ? params.get('range') : '24h';
  const [label, seconds] = RANGES[range];
  const { data: stats, error } = useLoad(async () => {
    const since = new Date(Date.now() - seconds * 1000).toISOString();
    return (
      await gql(caller.token, 'query($since: Datetime) { jobStats(since: $since) }', { since })
    ).jobStats;
  }, [caller.token, range, version]);
  return html`<section class="panel" aria-labelledby="stats-h">
    <div class="heading">
      <h2 id="stats-h">Stats (${label})</h2>
      <label class="inline"
        >Range
        <select
          name="range"
          value=${range}
          onChange=${(e) => navigate(href('stats', { range: e.target.value }), { replace: true })}
        >
          ${Object.entries(RANGES).map(([key, [text]]) => html`<option value=${key}>${text}</option>`)}
        </select>
      </label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!stats && !error && html`<p class="muted">Loading…</p>`}
    ${
      stats &&
      html`<p class="figures">
          ${[
            ['Queue depth', stats.queue.depth],
            ['ready', stats.queue.ready],
            ['scheduled', stats.queue.scheduled],
            ['paused', stats.queue.paused],
            ['oldest ready job waiting', fmtDuration(stats.queue.oldestReadyAgeMs)],
            ['jobs per minute', stats.throughput.perMinute],
          ].map(([name, value]) => html`<span>${name}: <b>${value}</b></span>`)}
        </p>
        <p class="figures" data-by-status>
          ${Object.entries(stats.byStatus).map(
            ([status, n]) => html`<span class=${`status ${status}`}>${status}: ${n}</span>`,
          )}
        </p>
        <h3>Throughput and failures</h3>
        ${
          stats.throughput.series.length === 0
            ? html`<p class="muted">No job finished in this range.</p>`
            : html`<${ThroughputChart}
                series=${stats.throughput.series}
                bucketSeconds=${stats.throughput.bucketSeconds}
                since=${stats.since}
                until=${stats.at}
                label=${`Jobs finished per ${stats.throughput.bucketSeconds / 60} min: succeeded, failed, cancelled`}
              />`
        }
        <h3>Duration per task type</h3>
        <${DurationChart} byType=${stats.byType} />
        <${DataTable}
          head=${['Type', 'Running', 'Queued', 'Succeeded', 'Failed', 'p50', 'p95', ['Peak memory', 'highest peak memory of a finished job'], ['CPU', 'average CPU time of a finished job']]}
        >
          ${stats.byType.map(
            (t) =>
              html`<tr key=${t.type}>
                <td>${t.type}</td>
                <td>${t.running}</td>
                <td>${t.queued}</td>
                <td>${t.succeeded}</td>
                <td>${t.failed}</td>
                <td>${fmtDuration(t.p50Ms)}</td>
                <td>${fmtDuration(t.p95Ms)}</td>
                <td>${t.peakRssMbMax == null ? '—' : `${t.peakRssMbMax} MB`}</td>
                <td>${fmtDuration(t.cpuMsAvg)}</td>
              </tr>`,
          )}
        <//>`
    }
  </section>`;
}
