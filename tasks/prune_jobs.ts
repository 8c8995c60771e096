import { defineTask, pruneJobs, loadConfig } from 'jobdeck';

/**
 * Removes finished jobs past their retention (JOBDECK_RETENTION_SUCCEEDED_DAYS, and the longer
 * JOBDECK_RETENTION_FAILED_DAYS for failed and cancelled ones): drops the weekly history
 * partitions whose week is past, and deletes the ones still in the live partition. Scheduled
 * hourly in `crontab`.
 */
export default defineTask({
  category: 'processing',
  // Maintenance: run by cron or an operator, never by a signed-in user.
  enqueueFromApi: false,
  description: 'Delete finished jobs older than the retention settings',
  maxAttempts: 1,
  async run({ helpers, log }) {
    const config = loadConfig();
    const { deleted, droppedPartitions } = await helpers.withPgClient((client) =>
      pruneJobs(client, {
        succeededDays: config.retentionSucceededDays,
        failedDays: config.retentionFailedDays,
      }),
    );
    await log(
      'info',
      `pruned ${deleted} finished jobs` +
        (droppedPartitions.length > 0 ? ` (dropped ${droppedPartitions.join(', ')})` : ''),
    );
    return { deleted, droppedPartitions };
  },
});
