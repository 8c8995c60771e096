// What every view of the dashboard shares: GraphQL over HTTP and the websocket, the page's own
// URLs (its router), formatting, and the toasts and confirmations actions report through.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);
// The API lives next to this file, wherever the application mounts jobdeck (`/`, `/jobs-api/`…).
export const BASE = new URL('./', import.meta.url);
export const api = (path) => new URL(path.replace(/^\//, ''), BASE).href;
// The dashboard's pages: `<prefix>/ui/…`, never beside the API's routes.
const UI = new URL('ui/', BASE);
// The job statuses and what each allows, as the server defines them (src/jobs/states.ts); it
// puts them in the page (src/http/dashboard.ts), so this page and the API never disagree.
export const STATES = JSON.parse(document.getElementById('jobdeck-states').textContent);
export const ALL_STATUSES = [...STATES.active, ...STATES.finished];

/** Reads the claims of a token (for display only; the server verifies it). */
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

/** Headers that say who is calling: the token, or none when the session cookie does. */
export const authHeaders = (token) => (token ? { authorization: `Bearer ${token}` } : {});

/** POSTs a GraphQL operation; throws an Error with the server's message on any error. */
export async function gql(token, query, variables = {}) {
  const response = await fetch(api('graphql'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...authHeaders(token) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) {
    const error = new Error(body.errors.map((e) => e.message).join('; '));
    error.code = body.errors[0].extensions?.code;
    throw error;
  }
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body.data;
}

/** Runs `onEvent` for each event of a subscription while the component is mounted. */
export function useSubscription(socket, query, variables, onEvent) {
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

/** Reads `load()` once and again whenever `deps` change; `{data, error, reload}`. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null });
  const run = useRef(0);
  const reload = async () => {
    const mine = ++run.current;
    try {
      const data = await load();
      if (mine === run.current) setState({ data, error: null });
    } catch (error) {
      if (mine === run.current) setState((s) => ({ data: s.data, error: error.message }));
    }
  };
  useEffect(() => void reload(), deps);
  return { ...state, reload };
}

// ---------------------------------------------------------------------------------------------
// Routing: the page's URL is the state of what it shows (view, filters), so reload, back/forward
// and a shared link all land on the same thing.

/** The URL of a page: `path` under `<prefix>/ui/`, with `params` (empty ones left out). */
export function href(path = '', params = {}) {
  const url = new URL(path.replace(/^\//, ''), UI);
  for (const [key, value] of Object.entries(params))
    if (value !== '' && value !== null && value !== undefined) url.searchParams.set(key, value);
  return url.pathname + url.search;
}

const NAVIGATED = 'jobdeck:navigate';

/** Goes to a page of the dashboard without reloading (`replace`: no new history entry). */
export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  window.dispatchEvent(new Event(NAVIGATED));
}

/** Where the page is: `parts` of the path under `ui/` (decoded) and its search `params`. */
export function readRoute() {
  const rest = location.pathname.startsWith(UI.pathname)
    ? location.pathname.slice(UI.pathname.length)
    : '';
  const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(location.search) };
}

/** The current route, re-rendering on navigation and on back/forward. */
export function useRoute() {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const update = () => setRoute(readRoute());
    window.addEventListener('popstate', update);
    window.addEventListener(NAVIGATED, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAVIGATED, update);
    };
  }, []);
  return route;
}

/** A link to a page of the dashboard: a real `<a href>` (new tab works), routed in place. */
export function Link({ to, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return;
    event.preventDefault();
    navigate(to);
  };
  return html`<a href=${to} onClick=${onClick} ...${rest}>${children}</a>`;
}

/** A link to a job's page, showing its type (or `label`). */
export const JobLink = ({ job, label }) =>
  html`<${Link} to=${href(`jobs/${job.id}`)} aria-label=${`Open ${job.type} job ${job.id}`}
    >${label ?? job.type}<//
  >`;

// ---------------------------------------------------------------------------------------------
// Formatting

export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms > 0 && ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
/** "in 5m 3s" / "2m 1s ago". */
export function fmtRelative(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `in ${fmtDuration(ms)}` : `${fmtDuration(-ms)} ago`;
}
/** How long a job ran (or has been running). */
export function jobDuration(job, now = Date.now()) {
  if (!job.startedAt) return null;
  return (job.finishedAt ? Date.parse(job.finishedAt) : now) - Date.parse(job.startedAt);
}
/** How long an attempt must have run before its own rate says anything about its end. */
const ETA_AFTER_MS = 2000;
/**
 * The ETA of a running job, or "estimating…" until there is one to give: no estimate yet, no
 * progress yet, an attempt too young for its rate to mean anything (its first step reports at
 * once, which made the extrapolation read "0s" through that whole step), or an estimate past.
 */
export function fmtEta(job, now = Date.now()) {
  if (job.status !== 'running') return '—';
  if (!job.etaAt || !(job.progress > 0) || !job.startedAt) return 'estimating…';
  if (now - Date.parse(job.startedAt) < ETA_AFTER_MS) return 'estimating…';
  const ms = Date.parse(job.etaAt) - now;
  return ms >= 1000 ? fmtDuration(ms) : 'estimating…';
}
/** An API caller's key without the key-space prefix the server stores it with. */
export const displayKey = (key) => (key ? key.replace(/^u:[0-9a-f]{32}:/, '') : key);
/** The first line of a job's last error, shortened. */
export function errorSnippet(job) {
  const last = Array.isArray(job.errors) ? job.errors[job.errors.length - 1] : null;
  const message = last?.message ?? job.cancelReason ?? '';
  const line = String(message).split('\n')[0];
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

// ---------------------------------------------------------------------------------------------
// Toasts and confirmations: every action says what happened; destructive ones ask first.

const toastListeners = new Set();
let toastId = 0;
/** Shows a short message (`kind`: ok or error) for a few seconds. */
export function toast(message, kind = 'ok') {
  const item = { id: ++toastId, message, kind };
  for (const listener of toastListeners) listener(item);
}

export function Toasts() {
  const [items, setItems] = useState([]);
  useEffect(() => {
    const add = (item) => {
      setItems((list) => [...list.slice(-4), item]);
      setTimeout(() => setItems((list) => list.filter((i) => i.id !== item.id)), 6000);
    };
    toastListeners.add(add);
    return () => toastListeners.delete(add);
  }, []);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${items.map(
      (item) =>
        html`<p key=${item.id} class=${`toast ${item.kind}`} data-toast=${item.kind}>
          ${item.message}
        </p>`,
    )}
  </div>`;
}

let askHost = null;
/** Asks before a destructive step: resolves true when confirmed. */
export function confirmAction({ title, body, confirmLabel, danger = true }) {
  if (!askHost) return Promise.resolve(window.confirm(title));
  return new Promise((resolve) => askHost({ title, body, confirmLabel, danger, resolve }));
}

export function ConfirmHost() {
  const [ask, setAsk] = useState(null);
  const dialog = useRef(null);
  useEffect(() => {
    askHost = setAsk;
    return () => {
      askHost = null;
    };
  }, []);
  useEffect(() => {
    if (ask && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [ask]);
  const close = (answer) => {
    dialog.current?.close();
    ask?.resolve(answer);
    setAsk(null);
  };
  if (!ask) return null;
  return html`<dialog
    ref=${dialog}
    class="confirm"
    aria-labelledby="confirm-title"
    onCancel=${(e) => (e.preventDefault(), close(false))}
  >
    <h2 id="confirm-title">${ask.title}</h2>
    ${ask.body && html`<p>${ask.body}</p>`}
    <div class="filters">
      <button onClick=${() => close(false)}>Keep</button>
      <button class=${ask.danger ? 'danger' : ''} onClick=${() => close(true)} autofocus>
        ${ask.confirmLabel}
      </button>
    </div>
  </dialog>`;
}

/** A per-second clock for elapsed times and ETAs. */
export function useNow(intervalMs = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
