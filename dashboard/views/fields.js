// The job fields the lists and the detail read.
export const JOB_FIELDS = `id type queue status progress currentStep etaAt startedAt createdAt
  finishedAt ownerId attempts attemptsBeforeRetry maxAttempts cancelRequestedAt batchId key`;
