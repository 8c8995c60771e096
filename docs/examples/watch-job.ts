/**
 * Watches one job over GraphQL: subscribes to `jobUpdated` first, then queries the job's current
 * state, and prints each change until the job finishes.
 *
 *   node docs/examples/watch-job.ts <token> <job id> [http://127.0.0.1:4000]
 *
 * (npm puts Node 24 in node_modules/.bin; with Node 20 on PATH run it as
 * `npx node docs/examples/watch-job.ts …`.)
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [token, id, base = 'http://127.0.0.1:4000'] = process.argv.slice(2);
if (!token || !id) {
  console.error('usage: node docs/examples/watch-job.ts <token> <job id> [base url]');
  process.exit(2);
}

interface JobView {
  status: string;
  progress: number;
  currentStep: string | null;
  etaAt: string | null;
}
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const show = (job: JobView) =>
  console.log(
    `${job.status.padEnd(9)} ${String(job.progress).padStart(3)} %  ${job.currentStep ?? ''}${job.etaAt ? `  ETA ${job.etaAt}` : ''}`,
  );

const client = createClient({
  url: `${base.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
});

const done = new Promise<void>((resolve, reject) => {
  client.subscribe<{ jobUpdated: { kind: string; job: JobView | null } }>(
    {
      query: `subscription($id: UUID!) {
        jobUpdated(id: $id) { kind job { status progress currentStep etaAt } }
      }`,
      variables: { id },
    },
    {
      next: ({ data, errors }) => {
        if (errors) return reject(new Error(errors.map((e) => e.message).join('; ')));
        const job = data?.jobUpdated.job;
        if (job) show(job);
        if (job && FINISHED.has(job.status)) resolve();
      },
      error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
      complete: resolve,
    },
  );
});

// Then the current state, in case the job changed before the subscription started.
const response = await fetch(`${base}/graphql`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({
    query: 'query($id: UUID!) { job(id: $id) { status progress currentStep etaAt } }',
    variables: { id },
  }),
});
const current = (await response.json()) as { data?: { job: JobView | null }; errors?: unknown };
if (!current.data?.job) {
  console.error(`job ${id} not found (or not yours)`, current.errors ?? '');
  process.exit(1);
}
show(current.data.job);
if (!FINISHED.has(current.data.job.status)) await done;
await client.dispose();
