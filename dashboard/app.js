// jobdeck's live dashboard: Preact + htm, no build step. Everything goes through GraphQL as the
// signed-in user (a bearer token, or the session of the application that mounts jobdeck), so
// row-level security decides what this page can show or do.
import { h, render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { createClient } from 'graphql-ws';

const html = htm.bind(h);
// The API lives next to this file, wherever the application mounts jobdeck (`/`, `/jobs-api/`…).
const BASE = new URL('./', import.meta.url);
const api = (path) => new URL(path.replace(/^\//, ''), BASE).href;
const TOKEN_KEY = 'jobdeck.token';
// The job statuses and what each allows, as the server defines them (src/jobs/states.ts); it
// puts them in the page (src/http/dashboard.ts), so this page and the API never disagree.
const STATES = JSON.parse(document.getElementById('jobdeck-states').textContent);
const JOB_FIELDS = `id type status progress currentStep etaAt startedAt createdAt finishedAt
  ownerId attempts attemptsBeforeRetry maxAttempts cancelRequestedAt`;

/** Reads the claims of a token (for display only; the server verifies it). */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

/** Headers that say who is calling: the token, or none when the session cookie does. */
const authHeaders = (token) => (token ? { authorization: `Bearer ${token}` } : {});

/** POSTs a GraphQL operation; throws an Error with the server's message on any error. */
async function gql(token, query, variables = {}) {
  const response = await fetch(api('graphql'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...authHeaders(token) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body.data;
}

/**
 * One websocket per signed-in session; it reconnects by itself after a server restart. Without a
 * token the browser's cookies on the upgrade request identify the user.
 */
function makeSocket(token, onReconnected) {
  let connectedOnce = false;
  const url = api('graphql').replace(/^http/, 'ws');
  return createClient({
    url,
    connectionParams: authHeaders(token),
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // Capped backoff (0.5 s doubling up to 5 s, plus jitter): graphql-ws's default doubles without
    // limit, so after a restart that took a few attempts the page came back tens of seconds (and
    // after a long outage minutes) after the server did.
    retryWait: (retries) =>
      new Promise((resolve) =>
        setTimeout(resolve, Math.min(500 * 2 ** retries, 5000) + Math.random() * 500),
      ),
    on: {
      connected: () => {
        if (connectedOnce) onReconnected();
        connectedOnce = true;
      },
    },
  });
}

function useSubscription(socket, query, variables, onEvent) {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!socket) return undefined;
    return socket.subscribe(
      { query, variables },
      {
        next: (value) => value.data && handler.current(value.data),
        error: () => {},
        complete: () => {},
      },
    );
  }, [socket, query, key]);
}

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function SignIn({ onToken, devSignin }) {
  const [token, setToken] = useState('');
  const [user, setUser] = useState('alice');
  const [org, setOrg] = useState('acme');
  const [role, setRole] = useState('user');
  const [error, setError] = useState(null);
  const useToken = (value) => {
    if (!claimsOf(value))
      return setError('That does not look like a JWT (header.payload.signature).');
    onToken(value.trim());
  };
  const mint = async (event) => {
    event.preventDefault();
    setError(null);
    const response = await fetch(api('dev/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, org, role }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok)
      return setError(body.message ?? 'the development sign-in is off (JOBDECK_DEV_SIGNIN)');
    onToken(body.token);
  };
  return html`<section class="panel" aria-labelledby="signin">
    <h1 id="signin">Sign in to jobdeck</h1>
    <form class="stack" onSubmit=${(e) => (e.preventDefault(), useToken(token))}>
      <label
        >Bearer token
        <textarea
          name="token"
          value=${token}
          onInput=${(e) => setToken(e.target.value)}
          placeholder="paste the output of: npx jobdeck token --user alice --org acme"
        ></textarea>
      </label>
      <button type="submit">Sign in with token</button>
    </form>
    ${
      devSignin
        ? html`<h2>Development sign-in</h2>
            <form class="stack" onSubmit=${mint}>
              <div class="filters">
                <label
                  >User <input name="user" value=${user} onInput=${(e) => setUser(e.target.value)}
                /></label>
                <label
                  >Organisation
                  <input name="org" value=${org} onInput=${(e) => setOrg(e.target.value)}
                /></label>
                <label
                  >Role
                  <select name="role" value=${role} onChange=${(e) => setRole(e.target.value)}>
                    <option value="user">user</option>
                    <option value="admin">admin</option>
                  </select>
                </label>
                <button type="submit">Get a development token</button>
              </div>
            </form>`
        : null
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}

function JobActions({ token, job, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const act = async (mutation) => {
    setBusy(true);
    setError(null);
    try {
      await gql(
        token,
        `mutation($id: UUID!) { ${mutation}(input: { id: $id }) { job { id status } } }`,
        { id: job.id },
      );
      onDone?.();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<span>
    ${
      STATES.cancellable.includes(job.status) &&
      html`<button
        class="danger"
        disabled=${busy || job.cancelRequestedAt}
        onClick=${() => act('cancelJob')}
        aria-label=${`Cancel ${job.type} job ${job.id}`}
      >
        ${job.cancelRequestedAt ? 'Cancelling…' : 'Cancel'}
      </button>`
    }
    ${
      STATES.retryable.includes(job.status) &&
      html`<button
        disabled=${busy}
        onClick=${() => act('retryJob')}
        aria-label=${`Retry ${job.type} job ${job.id}`}
      >
        Retry
      </button>`
    }
    ${error && html` <span class="error" role="alert">${error}</span>`}
  </span>`;
}

function ActiveJobs({ token, jobs, onOpen, reload }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  if (jobs === null) return html`<p class="muted">Loading…</p>`;
  if (jobs.length === 0) return html`<p class="muted">No active jobs.</p>`;
  return html`<div>
    ${jobs.map(
      (job) =>
        html`<article class="job" key=${job.id} data-job-id=${job.id} data-status=${job.status}>
          <div class="line">
            <button
              class="linklike"
              onClick=${() => onOpen(job.id)}
              aria-label=${`Open ${job.type} job ${job.id}`}
            >
              ${job.type}
            </button>
            <span class=${`status ${job.status}`}>${job.status}</span>
            <span>${job.progress}%</span>
            <span class="muted">${job.currentStep ?? ''}</span>
            <span class="muted"
              >elapsed ${fmtDuration(job.startedAt ? now - Date.parse(job.startedAt) : null)}</span
            >
            <span class="muted"
              >ETA ${job.etaAt ? fmtDuration(Date.parse(job.etaAt) - now) : '—'}</span
            >
            <${JobActions} token=${token} job=${job} onDone=${reload} />
          </div>
          <progress max="100" value=${job.progress} aria-label=${`${job.type} progress`}>
            ${job.progress}%
          </progress>
        </article>`,
    )}
  </div>`;
}

const HISTORY_QUERY = `query($first: Int!, $after: Cursor, $orderBy: [JobOrderBy!], $filter: JobFilter) {
  jobs(first: $first, after: $after, orderBy: $orderBy, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { ${JOB_FIELDS} } } }`;

function History({ token, onOpen, version }) {
  const [status, setStatus] = useState('');
  const [type, setType] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [order, setOrder] = useState('CREATED_AT_DESC');
  const [cursors, setCursors] = useState([null]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const filter = useMemo(() => {
    const f = {};
    if (status) f.status = { equalTo: status };
    if (type) f.type = { includesInsensitive: type };
    if (from || to) f.createdAt = {};
    if (from) f.createdAt.greaterThanOrEqualTo = new Date(from).toISOString();
    if (to) f.createdAt.lessThan = new Date(to).toISOString();
    return Object.keys(f).length ? f : null;
  }, [status, type, from, to]);
  const after = cursors[cursors.length - 1];
  const load = useCallback(async () => {
    try {
      setError(null);
      const variables = { first: 20, after, orderBy: [order] };
      if (filter) variables.filter = filter; // the API refuses a null filter
      const data = await gql(token, HISTORY_QUERY, variables);
      setPage(data.jobs);
    } catch (e) {
      setError(e.message);
    }
  }, [token, after, order, filter]);
  useEffect(() => void load(), [load, version]);
  useEffect(() => setCursors([null]), [status, type, from, to, order]);
  return html`<section class="panel" aria-labelledby="history-h">
    <h2 id="history-h">History</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Status
        <select name="status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
          <option value="">any</option>
          ${[...STATES.active, ...STATES.finished].map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label
      >
      <label
        >Type <input name="type" value=${type} onInput=${(e) => setType(e.target.value)}
      /></label>
      <label
        >From
        <input
          type="datetime-local"
          name="from"
          value=${from}
          onInput=${(e) => setFrom(e.target.value)}
      /></label>
      <label
        >To
        <input type="datetime-local" name="to" value=${to} onInput=${(e) => setTo(e.target.value)}
      /></label>
      <label
        >Sort
        <select name="order" value=${order} onChange=${(e) => setOrder(e.target.value)}>
          <option value="CREATED_AT_DESC">newest first</option>
          <option value="CREATED_AT_ASC">oldest first</option>
          <option value="STATUS_ASC">status</option>
          <option value="PRIORITY_ASC">priority</option>
        </select></label
      >
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      page &&
      html`<p class="muted" data-total=${page.totalCount}>${page.totalCount} jobs</p>
        <table>
          <thead>
            <tr>
              <th>Type</th>
              <th>Status</th>
              <th>Progress</th>
              <th>Created</th>
              <th>Finished</th>
              <th>Owner</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${page.nodes.map(
              (job) =>
                html`<tr key=${job.id} data-job-id=${job.id}>
                  <td>
                    <button class="linklike" onClick=${() => onOpen(job.id)}>${job.type}</button>
                  </td>
                  <td class=${`status ${job.status}`}>${job.status}</td>
                  <td>${job.progress}%</td>
                  <td>${fmtTime(job.createdAt)}</td>
                  <td>${fmtTime(job.finishedAt)}</td>
                  <td>${job.ownerId ?? ''}</td>
                  <td><${JobActions} token=${token} job=${job} onDone=${load} /></td>
                </tr>`,
            )}
          </tbody>
        </table>
        <div class="filters">
          <button
            disabled=${cursors.length === 1}
            onClick=${() => setCursors(cursors.slice(0, -1))}
          >
            Previous
          </button>
          <button
            disabled=${!page.pageInfo.hasNextPage}
            onClick=${() => setCursors([...cursors, page.pageInfo.endCursor])}
          >
            Next
          </button>
        </div>`
    }
  </section>`;
}

const DETAIL_QUERY = `query($id: UUID!) { job(id: $id) {
  ${JOB_FIELDS} payload result errors priority peakRssBytes cpuMs cancelReason steps
  attemptHistory { nodes { attempt startedAt finishedAt outcome message error } }
  events(first: 200, orderBy: ID_ASC) { nodes { id at kind level message step } } } }`;

function JobDetail({ token, socket, id, onClose }) {
  const [job, setJob] = useState(undefined);
  const [error, setError] = useState(null);
  const load = useCallback(async () => {
    try {
      setJob((await gql(token, DETAIL_QUERY, { id })).job);
    } catch (e) {
      setError(e.message);
    }
  }, [token, id]);
  useEffect(() => void load(), [load]);
  useSubscription(
    socket,
    'subscription($id: UUID!) { jobUpdated(id: $id) { kind } }',
    { id },
    load,
  );
  // A signed link minted for this user (docs/rest.md, "Download links"): a plain link works.
  const url = job?.result?.downloadUrl;
  const fileName = url ? url.split('?')[0].split('/').pop() : '';
  return html`<section class="panel" aria-labelledby="detail-h">
    <h2 id="detail-h">Job ${id}</h2>
    <button onClick=${onClose}>Back</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${job === null && html`<p>Not found (or not yours).</p>`}
    ${
      job &&
      html`<div>
        <p class="figures">
          <b>${job.type}</b>
          <span class=${`status ${job.status}`}>${job.status}</span>
          <span>${job.progress}%</span>
          <span>${job.currentStep ?? ''}</span>
          <${JobActions} token=${token} job=${job} onDone=${load} />
        </p>
        <progress max="100" value=${job.progress} aria-label="progress">${job.progress}%</progress>
        <p class="figures muted">
          ${[
            // the current budget (since the last manual retry); attempt numbers in errors run on
            ['attempts', `${job.attempts - job.attemptsBeforeRetry}/${job.maxAttempts}`],
            ['created', fmtTime(job.createdAt)],
            ['started', fmtTime(job.startedAt)],
            ['finished', fmtTime(job.finishedAt)],
            [
              'peak memory',
              job.peakRssBytes ? `${Math.round(job.peakRssBytes / 1048576)} MB` : '—',
            ],
            ['CPU', job.cpuMs ? `${job.cpuMs} ms` : '—'],
          ].map(([label, value]) => html`<span>${label}: ${value}</span>`)}
        </p>
        <h3>Payload</h3>
        <pre>${JSON.stringify(job.payload, null, 2)}</pre>
        <h3>Result</h3>
        ${url ? html`<p><a href=${api(url)} download=${fileName}>Download ${fileName}</a></p>` : ''}
        <pre>${JSON.stringify(job.result, null, 2)}</pre>
        ${
          job.steps?.length
            ? html`<h3>Steps</h3>
                <table>
                  <thead>
                    <tr>
                      <th>Step</th>
                      <th>Kind</th>
                      <th>Attempt</th>
                      <th>Completed</th>
                      <th>Result</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${job.steps.map(
                      (s) =>
                        html`<tr>
                          <td>${s.name}</td>
                          <td>${s.kind}${s.waitEvent ? ` (${s.waitEvent})` : ''}</td>
                          <td>${s.attempt}</td>
                          <td>
                            ${
                              s.completedAt
                                ? fmtTime(s.completedAt)
                                : `parked until ${fmtTime(s.wakeAt)}`
                            }${s.timedOut ? ' (timed out)' : ''}
                          </td>
                          <td><pre>${JSON.stringify(s.result)}</pre></td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`
            : ''
        }
        <h3>Attempts</h3>
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>Outcome</th>
              <th>Started</th>
              <th>Finished</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            ${job.attemptHistory.nodes.map(
              (a) =>
                html`<tr>
                  <td>${a.attempt}</td>
                  <td>${a.outcome}</td>
                  <td>${fmtTime(a.startedAt)}</td>
                  <td>${fmtTime(a.finishedAt)}</td>
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
          </tbody>
        </table>
        <h3>Timeline and log</h3>
        <ol class="log">
          ${job.events.nodes.map(
            (e) =>
              html`<li class=${`log-${e.level}`}>
                ${`${fmtTime(e.at)}  [${e.level}]  ${e.kind === 'transition' ? '→ ' : ''}${e.message}`}
              </li>`,
          )}
        </ol>
      </div>`
    }
  </section>`;
}

/** Downloads an export with the bearer token (a plain link cannot send it). `url` is the API's. */
function Stats({ token, version }) {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    gql(token, '{ jobStats }').then(
      (d) => setStats(d.jobStats),
      (e) => setError(e.message),
    );
  }, [token, version]);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!stats) return html`<p class="muted">Loading…</p>`;
  const series = stats.throughput.series;
  const peak = Math.max(1, ...series.map((b) => b.succeeded + b.failed + b.cancelled));
  return html`<section class="panel" aria-labelledby="stats-h">
    <h2 id="stats-h">Stats (last 24 hours)</h2>
    <p class="figures">
      ${[
        ['Queue depth', stats.queue.depth],
        ['ready', stats.queue.ready],
        ['scheduled', stats.queue.scheduled],
        ['oldest ready job waiting', fmtDuration(stats.queue.oldestReadyAgeMs)],
        ['jobs per minute', stats.throughput.perMinute],
      ].map(([label, value]) => html`<span>${label}: <b>${value}</b></span>`)}
    </p>
    <table>
      <thead>
        <tr>
          ${Object.keys(stats.byStatus).map((s) => html`<th>${s}</th>`)}
        </tr>
      </thead>
      <tbody>
        <tr>
          ${Object.values(stats.byStatus).map((n) => html`<td>${n}</td>`)}
        </tr>
      </tbody>
    </table>
    <h3>By type</h3>
    <table>
      <thead>
        <tr>
          <th>Type</th>
          <th>Running</th>
          <th>Queued</th>
          <th>Succeeded</th>
          <th>Failed</th>
          <th>p50</th>
          <th>p95</th>
          <th title="highest peak memory of a finished job">Peak memory</th>
          <th title="average CPU time of a finished job">CPU</th>
        </tr>
      </thead>
      <tbody>
        ${stats.byType.map(
          (t) =>
            html`<tr>
              <td>${t.type}</td>
              <td>${t.running}</td>
              <td>${t.queued}</td>
              <td>${t.succeeded}</td>
              <td>${t.failed}</td>
              <td>${fmtDuration(t.p50Ms)}</td>
              <td>${fmtDuration(t.p95Ms)}</td>
              <td>${t.peakRssMbMax == null ? '—' : `${t.peakRssMbMax} MB`}</td>
              <td>
                ${t.cpuMsAvg == null || t.cpuMsAvg >= 1000 ? fmtDuration(t.cpuMsAvg) : `${t.cpuMsAvg} ms`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h3>Throughput and failures (per ${stats.throughput.bucketSeconds / 60} min)</h3>
    <div class="chart" role="img" aria-label="jobs finished over time; failures in red">
      ${series.map(
        (b) =>
          html`<div
            title=${`${fmtTime(b.at)}: ${b.succeeded} ok, ${b.failed} failed`}
            class=${b.failed > b.succeeded ? 'failed' : ''}
            style=${`height:${(100 * (b.succeeded + b.failed + b.cancelled)) / peak}%`}
          ></div>`,
      )}
    </div>
  </section>`;
}

function Enqueue({ token, onDone }) {
  const [type, setType] = useState('import_file');
  const [payload, setPayload] = useState('{\n  "filename": "people.csv",\n  "stepDelayMs": 800\n}');
  const [message, setMessage] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(payload);
    } catch (e) {
      return setMessage({ error: `The payload is not valid JSON: ${e.message}` });
    }
    try {
      const data = await gql(
        token,
        'mutation($type: String!, $payload: JSON!) { enqueueJob(input: { type: $type, payload: $payload }) { job { id } } }',
        { type, payload: parsed },
      );
      setMessage({ ok: `Enqueued ${data.enqueueJob.job.id}` });
      onDone();
    } catch (e) {
      setMessage({ error: e.message });
    }
  };
  return html`<section class="panel" aria-labelledby="enqueue-h">
    <h2 id="enqueue-h">Enqueue a job</h2>
    <form class="stack" onSubmit=${submit}>
      <label
        >Type <input name="type" value=${type} onInput=${(e) => setType(e.target.value)} required
      /></label>
      <label
        >Payload (JSON)
        <textarea
          name="payload"
          value=${payload}
          onInput=${(e) => setPayload(e.target.value)}
        ></textarea>
      </label>
      <button type="submit">Enqueue</button>
    </form>
    ${message?.error && html`<p class="error" role="alert">${message.error}</p>`}
    ${message?.ok && html`<p role="status">${message.ok}</p>`}
  </section>`;
}

/** Who is signed in, for display: from the token's claims, or from the application's session. */
function whoOf(token, identity) {
  if (identity) return { user: identity.userId, org: identity.orgId, role: identity.role };
  const claims = claimsOf(token) ?? {};
  return { user: claims.sub, org: claims.org, role: claims.role };
}

function Dashboard({ token, identity, onSignOut }) {
  const who = whoOf(token, identity);
  const isAdmin = who.role === 'admin';
  const [tab, setTab] = useState('active');
  const [openId, setOpenId] = useState(null);
  const [active, setActive] = useState(null);
  const [version, setVersion] = useState(0);
  // History and stats re-read after changes, at most once a second.
  const [changed, setChanged] = useState(0);
  const changeTimer = useRef(null);
  const noteChange = () => {
    if (changeTimer.current) return;
    changeTimer.current = setTimeout(() => {
      changeTimer.current = null;
      setChanged((n) => n + 1);
    }, 1000);
  };
  const [error, setError] = useState(null);
  // A list read while changes arrive may be older than them: read again until none arrived.
  const eventsSeen = useRef(0);
  const loadActive = useCallback(async () => {
    try {
      const before = eventsSeen.current;
      const data = await gql(token, `{ activeJobs(first: 100) { nodes { ${JOB_FIELDS} } } }`);
      setActive(data.activeJobs.nodes);
      setError(null);
      if (eventsSeen.current !== before) setTimeout(() => void loadActive(), 0);
    } catch (e) {
      setError(e.message);
      if (/token|sign in/i.test(e.message)) onSignOut();
    }
  }, [token]);
  const socket = useMemo(() => makeSocket(token, () => setVersion((v) => v + 1)), [token]);
  useEffect(() => () => socket.dispose(), [socket]);
  // Subscribe first, then query; a change patches the job in place or re-reads the list.
  const topic = isAdmin ? 'orgJobsChanged' : 'myJobsChanged';
  useSubscription(
    socket,
    `subscription { ${topic} { kind id job { ${JOB_FIELDS} } } }`,
    {},
    (data) => {
      const change = data[topic];
      eventsSeen.current += 1;
      noteChange();
      if (change.kind !== 'CHANGED' || !change.job) return setVersion((v) => v + 1);
      setActive((jobs) => {
        const list = (jobs ?? []).filter((j) => j.id !== change.job.id);
        if (STATES.active.includes(change.job.status)) list.unshift(change.job);
        return list.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
      });
    },
  );
  useEffect(() => void loadActive(), [loadActive, version]);
  const running = (active ?? []).filter((j) => j.status === 'running').length;
  const tabs = [
    ['active', 'Active'],
    ['history', 'History'],
    ['stats', 'Stats'],
    ...(isAdmin ? [['enqueue', 'Enqueue']] : []),
  ];
  return html`<div>
    <header class="top">
      <h1>jobdeck</h1>
      <span class="count" data-running=${running} role="status"
        >${running} running job${running === 1 ? '' : 's'}</span
      >
      <span class="muted">${who.user} · ${who.org}${isAdmin ? ' · admin' : ''}</span>
      ${token && html`<button onClick=${onSignOut}>Sign out</button>`}
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      openId
        ? html`<${JobDetail}
            token=${token}
            socket=${socket}
            id=${openId}
            onClose=${() => setOpenId(null)}
          />`
        : html`<nav class="tabs" role="tablist">
              ${tabs.map(
                ([key, label]) =>
                  html`<button role="tab" aria-selected=${tab === key} onClick=${() => setTab(key)}>
                    ${label}
                  </button>`,
              )}
            </nav>
            ${
              tab === 'active' &&
              html`<section class="panel" aria-labelledby="active-h">
                <h2 id="active-h">Active jobs</h2>
                <${ActiveJobs}
                  token=${token}
                  jobs=${active}
                  onOpen=${setOpenId}
                  reload=${loadActive}
                />
              </section>`
            }
            ${tab === 'history' && html`<${History} token=${token} onOpen=${setOpenId} version=${version + changed} />`}
            ${tab === 'stats' && html`<${Stats} token=${token} version=${version + changed} />`}
            ${
              tab === 'enqueue' &&
              html`<${Enqueue}
                token=${token}
                onDone=${() => {
                  setTab('active');
                  loadActive();
                }}
              />`
            }`
    }
  </div>`;
}

/**
 * How this server identifies callers (GET session): `token` (sign in with a bearer token) or
 * `application` (the mounting application's session; `identity` null = not signed in to it), and
 * whether it offers the development sign-in (`devSignin`, JOBDECK_DEV_SIGNIN).
 */
async function readSession() {
  try {
    const response = await fetch(api('session'), { credentials: 'same-origin' });
    const body = await response.json();
    if (body.auth === 'application' || body.auth === 'token') return body;
  } catch {
    // an older server without GET session, or one that cannot answer now: tokens as before
  }
  return { auth: 'token', identity: null, devSignin: true };
}

function NotSignedIn({ message, onRetry }) {
  return html`<section class="panel" aria-labelledby="signin">
    <h1 id="signin">Not signed in</h1>
    <p>This dashboard uses the session of the application it belongs to: sign in there first.</p>
    ${message && html`<p class="error" role="alert">${message}</p>`}
    <button onClick=${onRetry}>Try again</button>
  </section>`;
}

function App() {
  const [session, setSession] = useState(null);
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const check = useCallback(() => readSession().then(setSession), []);
  useEffect(() => void check(), [check]);
  const signIn = (value) => {
    sessionStorage.setItem(TOKEN_KEY, value);
    setToken(value);
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };
  if (!session) return html`<p class="muted">Loading jobdeck…</p>`;
  if (session.auth === 'application')
    return session.identity
      ? html`<${Dashboard} token=${null} identity=${session.identity} onSignOut=${check} />`
      : html`<${NotSignedIn} message=${session.message} onRetry=${check} />`;
  return token
    ? html`<${Dashboard} token=${token} onSignOut=${signOut} />`
    : html`<${SignIn} onToken=${signIn} devSignin=${session.devSignin !== false} />`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
