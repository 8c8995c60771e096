-- jobdeck 000023: fewer index entries for every row version a job's finish writes (issue 23).
--
-- The finish of a job is a non-HOT update (its status and finished_at are in indexes and in
-- their predicates), so every index whose predicate the new row version meets gets an entry.
-- Three indexes took entries that no query can use:
--
-- - jobs_fair_turn_idx: a tenant's next turn follows its latest turn among its jobs still
--   waiting to start (sql/fairness/fair_turns.sql); a started or finished job's turn no longer
--   orders anything. Entries only for queued and retrying jobs.
-- - jobs_owner_created_idx and jobs_org_created_idx: every query through them names an owner
--   or an organisation (`owner_id = $1`, row-level security), which a NULL never matches. Entries
--   only for jobs that have one: jobs enqueued without an owner (cron, triggers, system jobs)
--   write none.
--
-- docs/performance.md ("Issue 23") measures the finish with and without them.

drop index jobdeck.jobs_fair_turn_idx;
create index jobs_fair_turn_idx on jobdeck.jobs ((coalesce(org_id, '')), priority, fair_at)
  where fair_at is not null and status in ('queued', 'retrying');

drop index jobdeck.jobs_owner_created_idx;
create index jobs_owner_created_idx on jobdeck.jobs (owner_id, created_at desc, id)
  where owner_id is not null;

drop index jobdeck.jobs_org_created_idx;
create index jobs_org_created_idx on jobdeck.jobs (org_id, created_at desc, id)
  where org_id is not null;
