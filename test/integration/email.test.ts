import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask } from '../../src/jobs/task.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { deliveriesOf, registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** A message the SMTP server took: its envelope and its text, unfolded and decoded. */
interface Received {
  from: string;
  to: string[];
  message: string;
}

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
let smtp: SMTPServer;
let smtpUrl: string;
const received: Received[] = [];
/** Recipients refused once each, then accepted. */
const refuseOnce = new Set(['flaky@example.com']);

/** Header lines unfolded, quoted-printable undone: what a mail client would show. */
function decode(raw: string): string {
  return raw
    .replace(/\r\n(?=[ \t])/g, '')
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('refused') || refuseOnce.delete(address.address)) {
        const error = Object.assign(new Error('5.1.1 mailbox unavailable (test server)'), {
          responseCode: 550,
        });
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        received.push({
          from: from ? from.address : '',
          to: session.envelope.rcptTo.map((r) => r.address).sort(),
          message: decode(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
  // The delivery task reads its settings from the environment like any jobdeck process, and so
  // does the enqueue check.
  process.env['JOBDECK_SMTP_URL'] = smtpUrl;
  process.env['JOBDECK_EMAIL_FROM'] = 'jobs@example.com';

  t = await createTestDatabase();
  tasks = await loadTasks(path.join(ROOT, 'tasks'));
  // Retries without waiting half a minute: the test shows they happen, not how long they take.
  tasks.set('deliver_email', { ...tasks.get('deliver_email')!, maxAttempts: 2, backoff: ['0s'] });
  const outcome = z.object({ fail: z.boolean().default(false) });
  const run = ({ payload }: { payload: { fail: boolean } }) => {
    if (payload.fail) throw new Error('asked to fail');
    return { rows: 3 };
  };
  tasks.set('quick', defineTask({ payload: outcome, maxAttempts: 2, backoff: ['0s'], run }));
  tasks.set(
    'mailed',
    defineTask({
      payload: outcome,
      maxAttempts: 1,
      notify: { email: ['ops@example.com', 'lead@example.com'] },
      run,
    }),
  );
  tasks.set(
    'mailed_failures',
    defineTask({
      payload: outcome,
      maxAttempts: 1,
      notify: { email: 'oncall@example.com', on: ['failed'] },
      run,
    }),
  );
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ connectionString: t.url });
});

afterEach(async () => {
  expect(await stopWorkers()).toBe(0);
});

afterAll(async () => {
  await jobdeck?.close();
  await t?.drop();
  await new Promise<void>((resolve) => (smtp ? smtp.close(resolve) : resolve()));
  delete process.env['JOBDECK_SMTP_URL'];
  delete process.env['JOBDECK_EMAIL_FROM'];
});

const deliveriesFor = (jobId: string) => deliveriesOf(t, 'deliver_email', jobId);

/** The job's deliveries once all of them have finished as `status`. */
const deliveriesDone = (jobId: string, status = 'succeeded') =>
  waitFor(
    async () => {
      const rows = await deliveriesFor(jobId);
      return rows.length > 0 && rows.every((r) => r.status === status) && rows;
    },
    { timeoutMs: 30_000, what: `the e-mail deliveries of ${jobId} to be ${status}` },
  );

const messagesAbout = (jobId: string) => received.filter((m) => m.message.includes(jobId));

const jobCount = async () =>
  (await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs')).rows[0]!.n;

describe('e-mail notifications', () => {
  it('mail the recipients of notifyEmail once when the job succeeds, as a tracked delivery', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob(
        'quick',
        {},
        { ownerId: 'ann', orgId: 'acme', notifyEmail: ['bob@example.com', 'ann@example.com'] },
      );
      await waitForStatus(jobdeck, job.id, 'succeeded');
      const [delivery] = await deliveriesDone(job.id);
      // deliveries belong to no user: the addresses are the app's, not the job owner's
      expect(delivery).toMatchObject({ owner_id: null, attempts: 1 });
      const messages = messagesAbout(job.id);
      expect(messages).toHaveLength(1);
      const [mail] = messages;
      expect(mail!.from).toBe('jobs@example.com');
      expect(mail!.to).toEqual(['ann@example.com', 'bob@example.com']);
      expect(mail!.message).toContain(`Subject: [jobdeck] quick succeeded (job ${job.id})`);
      expect(mail!.message).toContain(`Job: ${job.id}`);
      expect(mail!.message).toContain('Status: succeeded');
      expect(mail!.message).toMatch(/Duration: \d+(\.\d)? m?s/);
      expect(mail!.message).toContain('Result: {"rows":3}');
      expect(mail!.message).toContain('Content-Type: text/plain');
      expect(mail!.message).toContain('Content-Type: text/html');
      expect(mail!.message).toContain(`<td><pre>${job.id}</pre></td>`);
    } finally {
      await worker.stop();
    }
  });

  it('mail the failure once, after the last attempt, with the error message and no stack', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob(
        'quick',
        { fail: true },
        { notifyEmail: 'ann@example.com' },
      );
      const failed = await waitForStatus(jobdeck, job.id, 'failed');
      expect(failed.attempts).toBe(2);
      await deliveriesDone(job.id);
      const messages = messagesAbout(job.id);
      expect(messages).toHaveLength(1);
      const [mail] = messages;
      expect(mail!.to).toEqual(['ann@example.com']);
      expect(mail!.message).toContain(`Subject: [jobdeck] quick failed (job ${job.id})`);
      expect(mail!.message).toContain('Status: failed');
      expect(mail!.message).toContain('Attempts: 2');
      expect(mail!.message).toContain('Error: asked to fail');
      // the stack stays in the job's record
      expect(failed.errors.at(-1)!.stack).toContain('email.test.ts');
      expect(mail!.message).not.toContain('email.test.ts');
    } finally {
      await worker.stop();
    }
  });

  it('mail a task type’s notify addresses, unless the enqueue names its own', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const typed = await jobdeck.enqueueJob('mailed', {});
      const own = await jobdeck.enqueueJob('mailed', {}, { notifyEmail: 'me@example.com' });
      await deliveriesDone(typed.id);
      await deliveriesDone(own.id);
      expect(messagesAbout(typed.id).map((m) => m.to)).toEqual([
        ['lead@example.com', 'ops@example.com'],
      ]);
      expect(messagesAbout(own.id).map((m) => m.to)).toEqual([['me@example.com']]);
    } finally {
      await worker.stop();
    }
  });

  it('send nothing on success when the notification is for failures only', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const ok = await jobdeck.enqueueJob('mailed_failures', {});
      const bad = await jobdeck.enqueueJob('mailed_failures', { fail: true });
      const quiet = await jobdeck.enqueueJob(
        'quick',
        {},
        { notifyEmail: 'ann@example.com', notifyOn: ['failed'] },
      );
      await waitForStatus(jobdeck, ok.id, 'succeeded');
      await waitForStatus(jobdeck, quiet.id, 'succeeded');
      // the delivery is enqueued in the transaction that finishes the job: none now, none ever
      expect(await deliveriesFor(ok.id)).toEqual([]);
      expect(await deliveriesFor(quiet.id)).toEqual([]);
      await deliveriesDone(bad.id);
      expect(messagesAbout(bad.id).map((m) => m.to)).toEqual([['oncall@example.com']]);
      expect(messagesAbout(ok.id)).toEqual([]);
      expect(messagesAbout(quiet.id)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('retry a refused message until the server takes it', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('quick', {}, { notifyEmail: 'flaky@example.com' });
      const [delivery] = await deliveriesDone(job.id);
      expect(delivery!.attempts).toBe(2);
      const stored = await jobdeck.getJob(delivery!.id);
      expect(stored.errors[0]!.message).toMatch(/550 5\.1\.1 mailbox unavailable \(test server\)/);
      expect(messagesAbout(job.id).map((m) => m.to)).toEqual([['flaky@example.com']]);
    } finally {
      await worker.stop();
    }
  });

  it('fail the delivery with the server’s answer after its last attempt, leaving the job alone', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('quick', {}, { notifyEmail: 'refused@example.com' });
      const [delivery] = await deliveriesDone(job.id, 'failed');
      expect(delivery!.attempts).toBe(2);
      const stored = await jobdeck.getJob(delivery!.id);
      expect(stored.errors).toHaveLength(2);
      for (const error of stored.errors)
        expect(error.message).toMatch(
          /^SMTP smtp:\/\/127\.0\.0\.1:\d+ did not take the message: .*550 5\.1\.1 mailbox unavailable \(test server\)/,
        );
      expect((await jobdeck.getJob(job.id)).status).toBe('succeeded');
      expect(messagesAbout(job.id)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('refuse bad addresses, too many, a stray notifyOn and a missing SMTP server, writing nothing', async () => {
    const before = await jobCount();
    const refusals: [options: Parameters<Jobdeck['enqueueJob']>[2], message: RegExp][] = [
      [
        { notifyEmail: 'not an address' },
        /^notifyEmail must be an e-mail address .*"not an address"/,
      ],
      [
        { notifyEmail: ['a@example.com', 'b@example.com, c@example.com'] },
        /^notifyEmail\[1\] must be an e-mail address/,
      ],
      [{ notifyEmail: [] }, /^notifyEmail must list 1 to 10 addresses, got 0/],
      [
        { notifyEmail: Array.from({ length: 11 }, (_, i) => `u${i}@example.com`) },
        /^notifyEmail must list 1 to 10 addresses, got 11/,
      ],
      [
        { notifyEmail: 'a@example.com', notifyOn: ['finished' as 'failed'] },
        /^notifyOn must list succeeded and\/or failed/,
      ],
      [{ notifyOn: ['failed'] }, /^notifyOn needs notifyEmail/],
    ];
    for (const [options, message] of refusals) {
      const refused = jobdeck.enqueueJob('quick', {}, options);
      await expect(refused).rejects.toThrow(InvalidArgumentError);
      await expect(refused).rejects.toThrow(message);
    }
    await expect(
      jobdeck.enqueueJobs([{ type: 'quick' }, { type: 'quick', notifyEmail: 'nope' }]),
    ).rejects.toThrow(/^jobs\[1\]: notifyEmail must be an e-mail address/);

    delete process.env['JOBDECK_SMTP_URL'];
    try {
      await expect(
        jobdeck.enqueueJob('quick', {}, { notifyEmail: 'ann@example.com' }),
      ).rejects.toThrow(/notifyEmail needs an SMTP server to send through: set JOBDECK_SMTP_URL/);
    } finally {
      process.env['JOBDECK_SMTP_URL'] = smtpUrl;
    }

    // SQL callers get the same checks
    await expect(
      t.pool.query(
        `select jobdeck.enqueue('quick', '{}', notify_email => array['ok@example.com', 'a@b'])`,
      ),
    ).rejects.toThrow(/notify_email\[2\] is not an e-mail address/);
    await expect(
      t.pool.query(
        `select jobdeck.enqueue('quick', '{}', notify_email => array['ok@example.com'], notify_on => array['done'])`,
      ),
    ).rejects.toThrow(/notify_on must list succeeded and\/or failed/);
    await expect(
      t.pool.query(`select * from jobdeck.enqueue_many($1::jsonb)`, [
        JSON.stringify([{ type: 'quick', notifyEmail: Array(11).fill('x@example.com') }]),
      ]),
    ).resolves.toBeDefined(); // 11 copies of one address are one recipient
    expect(await jobCount()).toBe(before + 1);
    await expect(
      t.pool.query(`select * from jobdeck.enqueue_many($1::jsonb)`, [
        JSON.stringify([
          { type: 'quick' },
          { type: 'quick', notifyEmail: Array.from({ length: 11 }, (_, i) => `u${i}@x.org`) },
        ]),
      ]),
    ).rejects.toThrow(/notify_email must list 1 to 10 addresses, got 11/);
    expect(await jobCount()).toBe(before + 1);
  });

  it('refuse a task type whose notify names a bad address, naming the task', async () => {
    const bad = new Map(tasks);
    bad.set('badly_mailed', defineTask({ notify: { email: 'ops at example' }, run: () => null }));
    await expect(registerTasks(t, bad)).rejects.toThrow(
      /^task "badly_mailed": notify\.email must be an e-mail address/,
    );
  });
});
