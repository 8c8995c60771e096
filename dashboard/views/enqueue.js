// /ui/enqueue — enqueue a job by type and JSON payload (admins).
import { useState } from 'preact/hooks';
import { useCaller } from '../components.js';
import { gql, href, html, navigate, toast } from '../lib.js';

export function EnqueueView() {
  const caller = useCaller();
  const [type, setType] = useState('import_file');
  const [payload, setPayload] = useState('{\n  "filename": "people.csv",\n  "stepDelayMs": 800\n}');
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(payload);
    } catch (e) {
      return setError(`The payload is not valid JSON: ${e.message}`);
    }
    try {
      const data = await gql(
        caller.token,
        'mutation($type: String!, $payload: JSON!) { enqueueJob(input: { type: $type, payload: $payload }) { job { id } } }',
        { type, payload: parsed },
      );
      toast(`Enqueued ${type} job ${data.enqueueJob.job.id.slice(0, 8)}`);
      navigate(href(''));
    } catch (e) {
      setError(e.message);
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
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}
