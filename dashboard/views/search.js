// /ui/search?q= — the jobs whose id or key is q (the header's search box lands here).
import { StatusBadge, useCaller } from '../components.js';
import { Link, displayKey, fmtTime, gql, href, html, useLoad } from '../lib.js';

export const FIND_QUERY = `query($term: String!) { findJobs(term: $term, first: 20) {
  nodes { id type status key createdAt } } }`;

export function SearchView({ params }) {
  const caller = useCaller();
  const q = params.get('q') ?? '';
  const { data: jobs, error } = useLoad(
    async () => (q.trim() ? (await gql(caller.token, FIND_QUERY, { term: q })).findJobs.nodes : []),
    [caller.token, q],
  );
  return html`<section class="panel" aria-labelledby="search-h">
    <h2 id="search-h">Search: ${q}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      jobs &&
      (jobs.length === 0
        ? html`<p class="muted">No job has the id or key “${q}” (or none you may see).</p>`
        : html`<ul class="plain">
            ${jobs.map(
              (j) =>
                html`<li key=${j.id} data-job-id=${j.id}>
                  <${Link} to=${href(`jobs/${j.id}`)}>${j.type}<//>
                  <${StatusBadge} status=${j.status} />
                  <span class="muted"
                    >${j.id}${j.key ? ` · key ${displayKey(j.key)}` : ''} ·
                    ${fmtTime(j.createdAt)}</span
                  >
                </li>`,
            )}
          </ul>`)
    }
  </section>`;
}
