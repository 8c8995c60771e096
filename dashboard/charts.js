// Charts with uPlot (a maintained, small charting library): real axes, time labels, a legend and
// the values under the pointer, instead of hand-made bars.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './lib.js';

const COLOURS = {
  succeeded: '#1d7a45',
  failed: '#b3261e',
  cancelled: '#8a5a00',
  finished: '#1f5fd1',
};

/** Loads uPlot's stylesheet once (its legend and cursor need it). */
function useUplotStyles() {
  useEffect(() => {
    if (document.getElementById('uplot-css')) return;
    const link = document.createElement('link');
    link.id = 'uplot-css';
    link.rel = 'stylesheet';
    link.href = new URL('./vendor/uplot.css', import.meta.url).href;
    document.head.append(link);
  }, []);
}

/** Mounts a uPlot chart in a div that follows its container's width. */
function usePlot(makeOptions, data, deps) {
  const box = useRef(null);
  useUplotStyles();
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const plot = new uPlot(makeOptions(Math.max(200, el.clientWidth)), data, el);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(200, el.clientWidth), height: plot.height }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, deps);
  return box;
}

/**
 * Jobs finished per bucket over time, one series per outcome, with axes, legend and hover values.
 * `series`: jobStats' throughput series ([{at, succeeded, failed, cancelled}]).
 */
export function ThroughputChart({ series, bucketSeconds, since, until, label }) {
  // every bucket of the range, empty ones as 0: the time axis spans the range asked for
  const byAt = new Map(series.map((b) => [Math.floor(Date.parse(b.at) / 1000), b]));
  const first = Math.floor(Date.parse(since) / 1000 / bucketSeconds) * bucketSeconds;
  const x = [];
  for (let t = first; t <= Date.parse(until) / 1000; t += bucketSeconds) x.push(t);
  const at = (name) => x.map((t) => byAt.get(t)?.[name] ?? 0);
  const data = [x, at('succeeded'), at('failed'), at('cancelled')];
  const box = usePlot(
    (width) => ({
      width,
      height: 240,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
      axes: [{ label: 'time' }, { label: `jobs per ${bucketSeconds / 60} min`, size: 60 }],
      series: [
        { label: 'time', value: '{YYYY}-{MM}-{DD} {HH}:{mm}' },
        ...['succeeded', 'failed', 'cancelled'].map((name) => ({
          label: name,
          stroke: COLOURS[name],
          fill: `${COLOURS[name]}22`,
          width: 2,
        })),
      ],
    }),
    data,
    [JSON.stringify(series)],
  );
  return html`<figure class="chart-box">
    <div ref=${box} role="img" aria-label=${label}></div>
    <figcaption class="muted">${label}</figcaption>
  </figure>`;
}

/** A small line of jobs finished per minute over the last hour (a queue's throughput). */
export function Sparkline({ values, label }) {
  const now = Math.floor(Date.now() / 60000) * 60;
  const x = values.map((_v, i) => now - (values.length - 1 - i) * 60);
  const box = usePlot(
    (width) => ({
      width: Math.min(width, 240),
      height: 48,
      legend: { show: false },
      cursor: { show: true, points: { show: false } },
      axes: [{ show: false }, { show: false }],
      // a little below 0, so the baseline of a quiet hour shows
      scales: {
        y: { range: (_u, _min, max) => [-0.08 * Math.max(1, max), 1.1 * Math.max(1, max)] },
      },
      series: [{}, { stroke: COLOURS.finished, fill: `${COLOURS.finished}33`, width: 1.5 }],
    }),
    [x, values],
    [values.join(',')],
  );
  const total = values.reduce((a, b) => a + b, 0);
  return html`<div class="spark" title=${`${label}: ${total} in the last hour`}>
    <div ref=${box} role="img" aria-label=${`${label}: ${total} finished in the last hour`}></div>
    <span class="muted">${total} finished</span>
  </div>`;
}

/** Per-type p50 and p95 durations as horizontal bars with values (seconds). */
export function DurationChart({ byType }) {
  const types = byType.filter((t) => t.p50Ms != null);
  const data = [
    types.map((_t, i) => i),
    types.map((t) => t.p50Ms / 1000),
    types.map((t) => t.p95Ms / 1000),
  ];
  const left = uPlot.paths.bars({ size: [0.35, 30], align: -1 });
  const right = uPlot.paths.bars({ size: [0.35, 30], align: 1 });
  const box = usePlot(
    (width) => ({
      width,
      height: 200,
      scales: {
        x: { time: false, range: [-0.5, Math.max(0.5, types.length - 0.5)] },
        y: { range: (_u, _min, max) => [0, Math.max(0.001, max * 1.1)] },
      },
      axes: [
        {
          label: 'task type',
          values: (_u, ticks) => ticks.map((i) => types[i]?.type ?? ''),
          splits: () => types.map((_t, i) => i),
        },
        { label: 'seconds', size: 60 },
      ],
      series: [
        { label: 'type', value: (_u, i) => types[i]?.type ?? '' },
        {
          label: 'p50',
          stroke: '#1f5fd1',
          fill: '#1f5fd199',
          paths: left,
          points: { show: false },
        },
        {
          label: 'p95',
          stroke: '#8a5a00',
          fill: '#8a5a0099',
          paths: right,
          points: { show: false },
        },
      ],
    }),
    data,
    [JSON.stringify(types)],
  );
  if (types.length === 0) return html`<p class="muted">No finished jobs to measure yet.</p>`;
  return html`<figure class="chart-box">
    <div ref=${box} role="img" aria-label="p50 and p95 duration per task type"></div>
    <figcaption class="muted">Duration of succeeded jobs per task type (p50 and p95)</figcaption>
  </figure>`;
}
