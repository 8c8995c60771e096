// /ui/batches and /ui/batches/<id> — batches (enqueueBatch) with their counts, live.
import { useCaller } from '../components.js';
import {
  Link,
  confirmAction,
  fmtTime,
  gql,
  href,
  html,
  toast,
  useLoad,
  useSubscription,
} from '../lib.js';

const BATCH_FIELDS = `id total succeeded failed cancelled finished percent onCompleteType
  onCompleteJobId cancelRequestedAt createdAt finishedAt ownerId`;

/** A batch's bar: succeeded, failed and cancelled shares in their own colours. */
const BatchBar = ({ batch }) => {
  const part = (n) => `${(100 * n) / Math.max(1, batch.total)}%`;
  return html`<div
    class="stacked"
    role="img"
    aria-label=${`${batch.succeeded} succeeded, ${batch.failed} failed, ${batch.cancelled} cancelled of ${batch.total}`}
  >
    <span class="succeeded" style=${`width:${part(batch.succeeded)}`}></span>
    <span class="failed" style=${`width:${part(batch.failed)}`}></span>
    <span class="cancelled" style=${`width:${part(batch.cancelled)}`}></span>
  </div>`;
};

const counts = (b) =>
  html`<span>${b.finished}/${b.total} finished</span>
    <span class="status succeeded">${b.succeeded} succeeded</span>
    <span class="status failed">${b.failed} failed</span>
    <span class="status cancelled">${b.cancelled} cancelled</span>`;

export function BatchesView({ version }) {
  const caller = useCaller();
  const { data: batches, error } = useLoad(
    async () =>
      (
        await gql(
          caller.token,
          `{ batches(first: 50, orderBy: ID_DESC) { nodes { ${BATCH_FIELDS} } } }`,
        )
      ).batches.nodes.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)),
    [caller.token, version],
  );
  return html`<section class="panel" aria-labelledby="batches-h">
    <h2 id="batches-h">Batches</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      batches &&
      (batches.length === 0
        ? html`<p class="muted">No batches yet.</p>`
        : html`<ul class="plain">
            ${batches.map(
              (b) =>
                html`<li key=${b.id} class="batch" data-batch=${b.id}>
                  <div class="figures">
                    <${Link} to=${href(`batches/${b.id}`)}>Batch ${b.id.slice(0, 8)}<//>
                    ${counts(b)}
                    <span class="muted">${fmtTime(b.createdAt)}</span>
                  </div>
                  <${BatchBar} batch=${b} />
                </li>`,
            )}
          </ul>`)
    }
  </section>`;
}

export function BatchView({ id, socket }) {
  const caller = useCaller();
  const {
    data: batch,
    error,
    reload,
  } = useLoad(
    async () =>
      (await gql(caller.token, `query($id: UUID!) { batch(id: $id) { ${BATCH_FIELDS} } }`, { id }))
        .batch,
    [caller.token, id],
  );
  useSubscription(
    socket,
    'subscription($id: UUID!) { batchUpdated(id: $id) { kind } }',
    { id },
    reload,
  );
  const cancel = async () => {
    if (
      !(await confirmAction({
        title: `Cancel every unfinished job of batch ${id.slice(0, 8)}?`,
        confirmLabel: 'Cancel batch',
      }))
    )
      return;
    try {
      await gql(
        caller.token,
        'mutation($id: UUID!) { cancelBatch(input: { id: $id }) { batch { id } } }',
        { id },
      );
      toast(`Cancelled batch ${id.slice(0, 8)}`);
      reload();
    } catch (e) {
      toast(`Cancel failed: ${e.message}`, 'error');
    }
  };
  return html`<section class="panel" aria-labelledby="batch-h">
    <p><${Link} to=${href('batches')}>← Batches<//></p>
    <h2 id="batch-h">Batch ${id}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${batch === null && html`<p>Not found (or not yours).</p>`}
    ${
      batch &&
      html`<div class="figures" data-batch=${batch.id}>
          ${counts(batch)} <span>${batch.percent}%</span>
          ${
            !batch.finishedAt &&
            !batch.cancelRequestedAt &&
            caller.can('jobs.cancel_jobs') &&
            html`<button class="danger" onClick=${cancel}>Cancel batch</button>`
          }
        </div>
        <${BatchBar} batch=${batch} />
        <p class="figures muted">
          <span>created: ${fmtTime(batch.createdAt)}</span>
          <span>finished: ${fmtTime(batch.finishedAt)}</span>
          <span>owner: ${batch.ownerId ?? '—'}</span>
          ${
            batch.onCompleteType &&
            html`<span
              >${`then: ${batch.onCompleteType} `}${batch.onCompleteJobId && html`<${Link} to=${href(`jobs/${batch.onCompleteJobId}`)}>${batch.onCompleteJobId.slice(0, 8)}<//>`}</span
            >`
          }
        </p>
        <p>
          <${Link} to=${href('history')}>Its jobs are in the history<//> (each job's page names its
          batch).
        </p>`
    }
  </section>`;
}
