/**
 * How the `jobdeck` schema becomes GraphQL: names (`jobs`, `job(id)`, `id` kept as `id`), which
 * SQL functions are exposed and which columns are not. Functions are opt-in: a function added by
 * a later migration stays out of the API until it is listed here.
 */

/** SQL functions (by name, schema jobdeck) that GraphQL exposes. */
const EXPOSED_FUNCTIONS = new Set([
  'active_jobs',
  'job_stats',
  'jobs_attempt_history',
  'jobs_errors',
  'jobs_steps',
  'jobs_waiting_for',
  'enqueue_job',
  'enqueue_job_graph',
  'enqueue_from_template',
  'cancel_job',
  'retry_job',
  'delete_job',
  'find_jobs',
  'cancel_batch',
  'batches_finished',
  'batches_percent',
]);

/**
 * Columns (table → column names) that GraphQL never shows, filters, orders or aggregates by.
 * `webhook_url` is the application's, not the job owner's: it may carry a secret (a token in its
 * query string or path) and names internal hosts. `notify_email` names the people mailed about the
 * job: personal data of others than the owner, chosen by the application. `errors` holds stack
 * traces, for admins only: GraphQL's `errors` field is the computed column `jobdeck.jobs_errors`,
 * which nulls them for other callers. Hidden here rather than by a smart comment, so no later
 * `comment on column` can bring it back.
 */
const HIDDEN_COLUMNS: Record<string, ReadonlySet<string>> = {
  jobs: new Set(['webhook_url', 'notify_email', 'errors']),
  // Not granted to the request roles either (migration 000020).
  job_templates: new Set(['webhook_url', 'notify_email']),
};

export const JobdeckNamingPlugin: GraphileConfig.Plugin = {
  name: 'JobdeckNamingPlugin',
  description: 'jobs / job(id) instead of allJobs / jobById; a column called id stays id',
  version: '0.1.0',
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        return previous!.call(this, { ...details, skipRowId: true });
      },
      _allRows(_previous, _options, resource) {
        return this.camelCase(this.pluralize(this._singularizedResourceName(resource)));
      },
      rowByUnique(previous, _options, details) {
        if (details.unique.isPrimary)
          return this.camelCase(this._singularizedResourceName(details.resource));
        return previous!.call(this, details);
      },
    },
  },
};

export const JobdeckExposurePlugin: GraphileConfig.Plugin = {
  name: 'JobdeckExposurePlugin',
  description:
    'Hides every SQL function of the jobdeck schema that is not part of the API, and the columns of HIDDEN_COLUMNS',
  version: '0.1.0',
  schema: {
    entityBehavior: {
      pgCodecAttribute: {
        override: {
          provides: ['JobdeckExposurePlugin'],
          after: ['default', 'inferred'],
          callback(behavior, [codec, attributeName]) {
            const hidden = HIDDEN_COLUMNS[codec.extensions?.pg?.name ?? '']?.has(attributeName);
            return hidden ? [behavior, '-*' as GraphileBuild.BehaviorString] : behavior;
          },
        },
      },
      pgResource: {
        override: {
          provides: ['JobdeckExposurePlugin'],
          after: ['default', 'inferred'],
          callback(behavior, resource) {
            if (!resource.parameters) return behavior;
            if (EXPOSED_FUNCTIONS.has(resource.name)) return behavior;
            return [
              behavior,
              '-queryField -mutationField -typeField' as GraphileBuild.BehaviorString,
            ];
          },
        },
      },
    },
  },
};

/**
 * Filtering and ordering by a column of a partitioned table (`jobdeck.jobs`, migration 000024)
 * only where an index serves it, as for a plain table: graphile-build-pg's PgIndexBehaviorsPlugin
 * skips partitioned tables, which would offer every column. The same rule, read from the parent's
 * (partitioned) indexes.
 */
export const JobdeckPartitionIndexesPlugin: GraphileConfig.Plugin = {
  name: 'JobdeckPartitionIndexesPlugin',
  description: 'Index-based filter and order behaviours for partitioned tables',
  version: '0.1.0',
  after: ['PgIndexBehaviorsPlugin'],
  gather: {
    hooks: {
      pgCodecs_attribute(_info, event) {
        const { attribute, pgAttribute } = event;
        const table = pgAttribute.getClass();
        if (table?.relkind !== 'p') return;
        const indexed = table
          .getIndexes()
          .some(
            (index) =>
              !index.indpred && index.getKeys().some((key) => key?.attname === pgAttribute.attname),
          );
        if (indexed) return;
        attribute.extensions ??= Object.create(null) as NonNullable<typeof attribute.extensions>;
        if (!('isIndexed' in attribute.extensions)) attribute.extensions.isIndexed = false;
      },
    },
  },
};
