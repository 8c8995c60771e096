import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { Job } from '../../src/db/types.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { loadJobChannels, type JobChannels } from '../../src/live/channels.ts';
import { PgListener } from '../../src/live/listener.ts';
import { sleep } from '../../src/util/sleep.ts';
import {
  closeSubscriptions,
  startTestServer,
  stopServers,
  subscribe,
  tokenFor,
} from '../helpers/api.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { openStream } from '../helpers/sse.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

// Issue 18, findings 2 and 6, played as the attacks they are: a login role with no jobdeck rights
// at all (mallory) connects to jobdeck's database. PostgreSQL checks no privilege on LISTEN or
// NOTIFY, so mallory may listen on and notify any channel it can name.

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'steps',
    defineTask({
      async run({ payload, progress, signal }) {
        const { steps, stepMs } = payload as { steps: number; stepMs: number };
        for (let i = 1; i <= steps; i++) {
          await sleep(stepMs, signal);
          await progress(Math.round((i / steps) * 100));
        }
        return { steps };
      },
    }),
  ],
]);

const ACME_ALICE = { ownerId: 'alice', orgId: 'acme' };
const LATER = () => ({ runAt: new Date(Date.now() + 3_600_000) });

let t: TestDatabase;
let jobdeck: Jobdeck;
let channels: JobChannels;
let mallory: pg.Client;
const malloryRole = `mallory_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  t = await createTestDatabase();
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ connectionString: t.url });
  // The owner's view: what jobdeck itself names (the attacker cannot compute these).
  channels = await loadJobChannels(t.pool);
  await t.pool.query(`create role ${malloryRole} login password 'mallory-password'`);
  const url = new URL(t.url);
  url.username = malloryRole;
  url.password = 'mallory-password';
  mallory = new pg.Client({ connectionString: url.toString(), application_name: 'mallory' });
  await mallory.connect();
});

afterEach(async () => {
  await closeSubscriptions();
  expect(await stopWorkers()).toBe(0);
});

afterAll(async () => {
  await mallory?.end();
  await stopServers();
  await jobdeck?.close();
  await t?.pool.query(`drop role if exists ${malloryRole}`);
  await t?.drop();
});

/** NOTIFY as mallory. */
async function notifyAsMallory(channel: string, payload: unknown): Promise<void> {
  await mallory.query('select pg_notify($1, $2)', [channel, JSON.stringify(payload)]);
}

/** The channel names anyone can work out without the secret, old and new style. */
function guessableChannels(jobId: string, org: string, owner: string): string[] {
  const unkeyed = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 48);
  const ownerKey = `${Buffer.byteLength(org)}:${org}:${owner}`;
  return [
    'jobdeck:cancel',
    `jobdeck:job:${jobId}`,
    `jobdeck:owner:${owner}`,
    `jobdeck:org:${org}`,
    `jobdeck:cancel:${unkeyed('cancel:')}`,
    `jobdeck:job:${unkeyed(`job:${jobId}`)}`,
    `jobdeck:owner:${unkeyed(`owner:${ownerKey}`)}`,
    `jobdeck:org:${unkeyed(`org:${org}`)}`,
  ];
}

describe('a forged cancel (finding 2)', () => {
  it('leaves the running job running to a normal finish, while a real cancel still stops one at once', async () => {
    // Heartbeats far apart: only the NOTIFY path can stop a job within this test.
    const worker = await runTestWorker(t, tasks, { config: { heartbeatIntervalMs: 600_000 } });
    try {
      const victim = await jobdeck.enqueueJob('steps', { steps: 10, stepMs: 80 }, ACME_ALICE);
      await waitForStatus(jobdeck, victim.id, 'running');
      // Every way mallory could put it: the old channel, and even the secret one, as if its name
      // had leaked; the id of a job it learned, with a reason for good measure.
      for (let i = 0; i < 10 && (await jobdeck.getJob(victim.id)).status === 'running'; i++) {
        await notifyAsMallory('jobdeck:cancel', { id: victim.id, workerId: worker.id });
        await notifyAsMallory(channels.cancel, { id: victim.id, reason: 'forged' });
        await sleep(30);
      }
      const done = await waitForStatus(jobdeck, victim.id, 'succeeded');
      expect(done).toMatchObject({
        result: { steps: 10 },
        progress: 100,
        cancel_requested_at: null,
      });
      const events = await jobdeck.getJobEvents(victim.id);
      expect(events.map((e) => e.message).join('\n')).not.toMatch(/cancel/);

      const target = await jobdeck.enqueueJob('steps', { steps: 200, stepMs: 100 }, ACME_ALICE);
      await waitForStatus(jobdeck, target.id, 'running');
      await jobdeck.cancelJob(target.id, 'a real one');
      const cancelled = await waitForStatus(jobdeck, target.id, 'cancelled', { timeoutMs: 10_000 });
      expect(cancelled.cancel_reason).toBe('a real one');
      expect(
        cancelled.finished_at!.getTime() - cancelled.cancel_requested_at!.getTime(),
      ).toBeLessThan(10_000);
    } finally {
      await worker.stop();
    }
  });
});

describe('the channels (finding 6)', () => {
  it('keeps the secret from every role but the owner', async () => {
    await expect(mallory.query('select secret from jobdeck_private.notify_secret')).rejects.toThrow(
      /permission denied/,
    );
    await expect(
      mallory.query(`select jobdeck_private.notify_jobs('cancel', array[gen_random_uuid()])`),
    ).rejects.toThrow(/permission denied/);
    const client = await t.pool.connect();
    try {
      for (const role of ['jobdeck_api', 'jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin']) {
        await client.query('begin');
        await client.query(`set local role ${role}`);
        await expect(
          client.query('select secret from jobdeck_private.notify_secret'),
          role,
        ).rejects.toThrow(/permission denied/);
        await client.query('rollback');
      }
    } finally {
      client.release();
    }
  });

  it('lets a stranger hear nothing on any name it can work out, while jobdeck announces ids only', async () => {
    const job = await jobdeck.enqueueJob('steps', { steps: 4, stepMs: 30 }, ACME_ALICE);
    const heard: string[] = [];
    mallory.on('notification', (message) => heard.push(`${message.channel} ${message.payload}`));
    for (const name of guessableChannels(job.id, 'acme', 'alice'))
      await mallory.query(`listen ${pg.escapeIdentifier(name)}`);

    const listener = new PgListener(t.url);
    const announced: { channel: string; payload: string }[] = [];
    const names = [
      channels.job(job.id),
      channels.owner('acme', 'alice'),
      channels.org('acme'),
      channels.cancel,
    ];
    for (const name of names)
      await listener.subscribe(name, (payload, channel) =>
        announced.push({ channel, payload: payload! }),
      );
    const worker = await runTestWorker(t, tasks);
    try {
      await waitForStatus(jobdeck, job.id, 'succeeded');
      const other = await jobdeck.enqueueJob('steps', { steps: 1, stepMs: 1 }, LATER());
      await jobdeck.cancelJob(other.id);
      await waitFor(() => announced.some((a) => a.channel === channels.cancel));
      await waitFor(() => announced.filter((a) => a.channel === channels.job(job.id)).length >= 3);

      // Even the LISTEN commands of jobdeck's connections are hidden from mallory.
      const { rows } = await mallory.query<{ query: string }>(
        `select query from pg_stat_activity where application_name = 'jobdeck-listener'`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row.query).toBe('<insufficient privilege>');
    } finally {
      await worker.stop();
      await listener.close();
    }
    await mallory.query('unlisten *');
    expect(heard).toEqual([]);

    // What was announced: on every channel, the job's id and nothing else.
    for (const { channel, payload } of announced) {
      expect(Object.keys(JSON.parse(payload) as object), channel).toEqual(['id']);
      expect(payload).not.toMatch(/acme|alice|succeeded|running|progress|status/);
    }
    for (const name of names) {
      expect(name).toMatch(/^jobdeck:(job|owner|org|cancel):[0-9a-f]{48}$/);
      expect(name).not.toContain(job.id);
    }
  });
});

describe('forged status and progress on a learned channel (finding 6)', () => {
  it('change nothing that GraphQL subscriptions, event streams or watchJob() report', async () => {
    const server = await startTestServer(t);
    const alice = await tokenFor('alice', 'acme');
    const job = await jobdeck.enqueueJob(
      'steps',
      { steps: 1, stepMs: 1 },
      { ...ACME_ALICE, ...LATER() },
    );
    const foreign = await jobdeck.enqueueJob(
      'steps',
      { steps: 1, stepMs: 1 },
      {
        ownerId: 'carol',
        orgId: 'globex',
        ...LATER(),
      },
    );

    const jobSub = await subscribe<{
      jobUpdated: { kind: string; id: string; status: string | null; progress: number | null };
    }>(server, 'subscription($id: UUID!) { jobUpdated(id: $id) { kind id status progress } }', {
      token: alice,
      variables: { id: job.id },
    });
    const mineSub = await subscribe<{
      myJobsChanged: {
        kind: string;
        id: string;
        status: string | null;
        progress: number | null;
        job: { id: string } | null;
      };
    }>(server, 'subscription { myJobsChanged { kind id status progress job { id } } }', {
      token: alice,
    });
    const jobStream = await openStream(`${server.url}/v1/jobs/${job.id}/events`, alice);
    const mineStream = await openStream(`${server.url}/v1/jobs/events`, alice);
    await waitFor(() => jobStream.events.length === 1, { what: "the stream's first event" });
    const watched: Job[] = [];
    const watching = (async () => {
      for await (const now of jobdeck.watchJob(job.id)) watched.push(now);
    })();
    await waitFor(() => watched.length === 1, { what: "watchJob's first yield" });

    // Mallory learned the channel names (the worst case) and claims the job finished, and names
    // another tenant's job on alice's channel.
    const forged = { id: job.id, status: 'succeeded', progress: 100, owner: 'alice', org: 'acme' };
    for (const name of [
      channels.owner('acme', 'alice'),
      channels.org('acme'),
      channels.job(job.id),
    ])
      await notifyAsMallory(name, forged);
    await notifyAsMallory(channels.owner('acme', 'alice'), { id: foreign.id, status: 'failed' });

    // Each surface re-read the row: still queued at 0 %, and nothing of globex's job.
    const fromHint = await jobSub.next((e) => e.jobUpdated.kind === 'CHANGED');
    expect(fromHint.jobUpdated).toEqual({
      kind: 'CHANGED',
      id: job.id,
      status: 'queued',
      progress: 0,
    });
    // globex's job named on alice's channel: re-read, it is not hers, so nothing is passed on.
    await notifyAsMallory(channels.owner('acme', 'alice'), { id: job.id, marker: true });
    await waitFor(() => mineSub.events.length >= 2, { what: 'the marker after the foreign id' });
    expect(mineSub.events.map((e) => e.myJobsChanged.id)).not.toContain(foreign.id);
    for (const event of mineSub.events)
      expect(event.myJobsChanged).toMatchObject({
        status: 'queued',
        progress: 0,
        job: { id: job.id },
      });
    await waitFor(() => jobStream.events.length >= 2, { what: 'the stream to re-read' });
    expect(jobStream.events[1]).toMatchObject({
      event: 'job',
      data: { job: { id: job.id, status: 'queued' }, progress: 0 },
    });

    // A real change afterwards is reported as it is; the forged claims never are.
    await jobdeck.cancelJob(job.id, 'real');
    await jobSub.next((e) => e.jobUpdated.status === 'cancelled');
    await waitFor(() => jobStream.ended(), { what: 'the job stream to end' });
    await waitFor(() => mineStream.events.some((e) => e.data.job?.status === 'cancelled'));
    await watching;
    await mineStream.close();

    expect(watched.map((j) => j.status)).toEqual(['queued', 'cancelled']);
    for (const event of jobSub.events) expect(event.jobUpdated.status).not.toBe('succeeded');
    for (const event of mineSub.events) expect(event.myJobsChanged.progress).not.toBe(100);
    expect(jobStream.events.map((e) => e.data.job?.status ?? e.event)).not.toContain('succeeded');
    expect(jobStream.events.at(-1)).toEqual({
      event: 'end',
      data: { id: job.id, status: 'cancelled' },
    });
    for (const event of mineStream.events) {
      expect(event.data.job?.id ?? job.id).toBe(job.id);
      expect(event.data.job?.status).not.toBe('succeeded');
    }
    expect(mineStream.events.length).toBeGreaterThan(0);
  });
});

describe('what a new job announces', () => {
  it('names it on its owner and organisation channels only: no one can follow a job that did not exist', async () => {
    // The enqueue stays open while a listener subscribes to the new job's own channel (its id is
    // known now), then commits: NOTIFY goes out at commit, so an insert notice on the job's
    // channel would arrive here.
    const listener = new PgListener(t.url);
    const heard: string[] = [];
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      const {
        rows: [acme],
      } = await client.query<{ id: string }>(
        `select id from jobdeck.enqueue('steps', '{"steps": 1, "stepMs": 1}', run_at => now() + interval '1 hour',
                                        owner_id => 'alice', org_id => 'acme')`,
      );
      const {
        rows: [plain],
      } = await client.query<{ id: string }>(
        `select id from jobdeck.enqueue('steps', '{"steps": 1, "stepMs": 1}', run_at => now() + interval '1 hour')`,
      );
      for (const [name, label] of [
        [channels.job(acme!.id), 'job'],
        [channels.job(plain!.id), 'plain job'],
        [channels.owner('acme', 'alice'), 'owner'],
        [channels.org('acme'), 'org'],
      ] as const)
        await listener.subscribe(name, (payload) =>
          heard.push(`${label} ${(JSON.parse(payload!) as { id: string }).id}`),
        );
      await client.query('commit');
      await waitFor(() => heard.length >= 2, { what: 'the owner and org notices' });
      // a later change of the job is announced on its own channel as before
      await jobdeck.cancelJob(acme!.id);
      await waitFor(() => heard.some((h) => h.startsWith('job ')), { what: "the cancel's notice" });
      expect(heard.slice(0, 2).sort()).toEqual([`org ${acme!.id}`, `owner ${acme!.id}`]);
      expect(heard.filter((h) => h.startsWith('plain job'))).toEqual([]);
    } finally {
      client.release();
      await listener.close();
    }
  });
});
