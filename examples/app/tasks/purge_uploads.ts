import { defineTask } from 'jobdeck';

/** Deletes failed uploads older than a day; scheduled every minute in `crontab`. */
export default defineTask({
  category: 'processing',
  description: 'Purge failed uploads older than a day (cron)',
  enqueueFromApi: false,
  maxAttempts: 1,
  async run({ helpers, log }) {
    const { rowCount } = await helpers.query(
      `delete from uploads where status = 'failed' and created_at < now() - interval '1 day'`,
    );
    await log('info', `purged ${rowCount ?? 0} failed uploads`);
    return { purged: rowCount ?? 0 };
  },
});
