// jobdeck's live dashboard: Preact + htm, no build step. Everything goes through GraphQL as the
// signed-in user (a bearer token, or the session of the application that mounts jobdeck), so
// row-level security decides what this page can show or do. Every view has its own URL under
// `<prefix>/ui/` (lib.js): the page routes itself, the server answers each such path with it.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { createClient } from 'graphql-ws';
import { Caller, allows } from './components.js';
import {
  ConfirmHost,
  Link,
  STATES,
  Toasts,
  api,
  authHeaders,
  claimsOf,
  gql,
  href,
  html,
  navigate,
  toast,
  useRoute,
  useSubscription,
} from './lib.js';
import { ActiveView } from './views/active.js';
import { BatchView, BatchesView } from './views/batches.js';
import { EnqueueView } from './views/enqueue.js';
import { JOB_FIELDS } from './views/fields.js';
import { HistoryView } from './views/history.js';
import { JobView } from './views/job.js';
import { QueueView, QueuesView } from './views/queues.js';
import { FIND_QUERY, SearchView } from './views/search.js';
import { SchedulesView } from './views/schedules.js';
import { StatsView } from './views/stats.js';
import { WorkersView } from './views/workers.js';

const TOKEN_KEY = 'jobdeck.token';
/** Reconnecting for longer than this (or the browser offline) reads as offline. */
const OFFLINE_AFTER_MS = 15_000;

/**
 * One websocket per signed-in session; it reconnects by itself after a server restart, and
 * reports its state (live, reconnecting, offline) to `onState`. Without a token the browser's
 * cookies on the upgrade request identify the user.
 */
function makeSocket(token, onReconnected, onState) {
  let connectedOnce = false;
  let lostAt = null;
  const url = api('graphql').replace(/^http/, 'ws');
  return createClient({
    url,
    connectionParams: authHeaders(token),
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // Capped backoff (0.5 s doubling up to 5 s, plus jitter): graphql-ws's default doubles without
    // limit, so after a restart that took a few attempts the page came back tens of seconds (and
    // after a long outage minutes) after the server did.
    retryWait: (retries) => {
      if (lostAt && Date.now() - lostAt > OFFLINE_AFTER_MS) onState('offline');
      return new Promise((resolve) =>
        setTimeout(resolve, Math.min(500 * 2 ** retries, 5000) + Math.random() * 500),
      );
    },
    on: {
      connected: () => {
        lostAt = null;
        onState('live');
        if (connectedOnce) onReconnected();
        connectedOnce = true;
      },
      closed: () => {
        if (!connectedOnce) return;
        lostAt ??= Date.now();
        onState(navigator.onLine === false ? 'offline' : 'reconnecting');
      },
    },
  });
}

const CONNECTION_LABELS = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  offline: 'offline',
};

function ConnectionIndicator({ state }) {
  return html`<span class=${`connection ${state}`} data-connection=${state} title="live updates">
    <span class="dot" aria-hidden="true"></span>${CONNECTION_LABELS[state]}
  </span>`;
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

/** Who is signed in, for display: from the token's claims, or from the application's session. */
function whoOf(token, identity) {
  if (identity)
    return {
      user: identity.userId,
      org: identity.orgId,
      role: identity.role,
      permissions: identity.permissions,
    };
  const claims = claimsOf(token) ?? {};
  return { user: claims.sub, org: claims.org, role: claims.role, permissions: claims.permissions };
}

/** The header's search: one match opens the job, several list them (/ui/search?q=). */
function SearchBox({ token }) {
  const [term, setTerm] = useState('');
  const submit = async (event) => {
    event.preventDefault();
    const q = term.trim();
    if (!q) return;
    try {
      const jobs = (await gql(token, FIND_QUERY, { term: q })).findJobs.nodes;
      navigate(jobs.length === 1 ? href(`jobs/${jobs[0].id}`) : href('search', { q }));
    } catch (e) {
      toast(`Search failed: ${e.message}`, 'error');
    }
  };
  return html`<form class="search" role="search" onSubmit=${submit}>
    <input
      type="search"
      name="q"
      aria-label="Find a job by id or key"
      placeholder="Job id or key"
      value=${term}
      onInput=${(e) => setTerm(e.target.value)}
    />
    <button type="submit">Find</button>
  </form>`;
}

/** The views, by the first part of the path under /ui/. */
const NAV = [
  ['', 'Active'],
  ['history', 'History'],
  ['queues', 'Queues', 'operator'],
  ['workers', 'Workers', 'operator'],
  ['batches', 'Batches'],
  ['schedules', 'Schedules', 'operator'],
  ['stats', 'Stats'],
  ['enqueue', 'Enqueue', 'admin'],
];

function View({ route, active, socket, version, reloadActive }) {
  const [first, second] = route.parts;
  const props = { params: route.params, version, socket };
  switch (first ?? '') {
    case '':
      return html`<${ActiveView} jobs=${active} reload=${reloadActive} ...${props} />`;
    case 'history':
      return html`<${HistoryView} ...${props} />`;
    case 'jobs':
      return second
        ? html`<${JobView} key=${second} id=${second} ...${props} />`
        : html`<${HistoryView} ...${props} />`;
    case 'queues':
      return second
        ? html`<${QueueView} name=${second} jobs=${active} ...${props} />`
        : html`<${QueuesView} ...${props} />`;
    case 'workers':
      return html`<${WorkersView} ...${props} />`;
    case 'batches':
      return second
        ? html`<${BatchView} key=${second} id=${second} ...${props} />`
        : html`<${BatchesView} ...${props} />`;
    case 'schedules':
      return html`<${SchedulesView} ...${props} />`;
    case 'stats':
      return html`<${StatsView} ...${props} />`;
    case 'enqueue':
      return html`<${EnqueueView} ...${props} />`;
    case 'search':
      return html`<${SearchView} ...${props} />`;
    default:
      return html`<section class="panel">
        <h2>Not found</h2>
        <p>No page at this address. <${Link} to=${href('')}>Active jobs<//></p>
      </section>`;
  }
}

function Dashboard({ token, identity, onSignOut }) {
  const who = whoOf(token, identity);
  const isAdmin = who.role === 'admin';
  const route = useRoute();
  const [isOperator, setOperator] = useState(false);
  const [connection, setConnection] = useState('connecting');
  const [active, setActive] = useState(null);
  const [version, setVersion] = useState(0);
  // Lists other than the active one re-read after changes, at most once a second.
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
      const data = await gql(token, `{ activeJobs(first: 200) { nodes { ${JOB_FIELDS} } } }`);
      setActive(data.activeJobs.nodes);
      setError(null);
      if (eventsSeen.current !== before) setTimeout(() => void loadActive(), 0);
    } catch (e) {
      setError(e.message);
      if (/token|sign in/i.test(e.message)) onSignOut();
    }
  }, [token]);
  const socket = useMemo(
    () => makeSocket(token, () => setVersion((v) => v + 1), setConnection),
    [token],
  );
  useEffect(() => () => socket.dispose(), [socket]);
  useEffect(() => {
    const offline = () => setConnection('offline');
    window.addEventListener('offline', offline);
    return () => window.removeEventListener('offline', offline);
  }, []);
  // Operators (admins of JOBDECK_OPERATOR_ORGS) see queues, workers and schedules; the page
  // asks the API rather than guess the configuration.
  useEffect(() => {
    if (!isAdmin) return;
    gql(token, '{ pauses { scope } }').then(
      () => setOperator(true),
      () => setOperator(false),
    );
  }, [token, isAdmin]);
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
        return list;
      });
    },
  );
  useEffect(() => void loadActive(), [loadActive, version]);
  const running = (active ?? []).filter((j) => j.status === 'running').length;
  const caller = useMemo(
    () => ({
      token,
      who,
      isAdmin,
      isOperator,
      can: (permission) => allows(who.permissions, permission),
    }),
    [token, isAdmin, isOperator, JSON.stringify(who)],
  );
  const current = route.parts[0] === 'jobs' ? 'history' : (route.parts[0] ?? '');
  const nav = NAV.filter(([, , need]) => !need || (need === 'admin' ? isAdmin : isOperator));
  return html`<${Caller.Provider} value=${caller}>
    <header class="top">
      <h1><${Link} to=${href('')}>jobdeck<//></h1>
      <span class="count" data-running=${running} role="status"
        >${running} running job${running === 1 ? '' : 's'}</span
      >
      <${ConnectionIndicator} state=${connection} />
      <${SearchBox} token=${token} />
      <span class="muted">${who.user} · ${who.org}${isAdmin ? ' · admin' : ''}</span>
      ${token && html`<button onClick=${onSignOut}>Sign out</button>`}
    </header>
    <nav class="tabs" aria-label="Views">
      ${nav.map(
        ([path, label]) =>
          html`<${Link} to=${href(path)} aria-current=${current === path ? 'page' : undefined}
            >${label}<//
          >`,
      )}
    </nav>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <${View}
      route=${route}
      active=${active}
      socket=${socket}
      version=${version + changed}
      reloadActive=${loadActive}
    />
    <${Toasts} />
    <${ConfirmHost} />
  <//>`;
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
