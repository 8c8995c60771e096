// What the operator views show a caller who is not an operator (the API refuses them).
import { html } from '../lib.js';

/** Its children, or why the caller may not see them (queues, workers, schedules). */
export function OperatorsOnly({ error, children }) {
  if (!error) return children;
  if (/operator/i.test(error))
    return html`<p class="muted" role="note">
      Only operators see this: admins of an organisation in JOBDECK_OPERATOR_ORGS. (${error})
    </p>`;
  return html`<p class="error" role="alert">${error}</p>`;
}
