-- jobdeck 000024: finished jobs live in weekly history partitions (issue 24, item 2).
--
-- `jobdeck.jobs` becomes a table partitioned by range on a new column, `purge_on date`: the day
-- from which the row may be dropped. Unfinished jobs, and finished ones until the maintenance
-- service moves them, have purge_on = 'infinity' and live in `jobdeck_private.jobs_live`. The
-- service (src/worker/history.ts) sets purge_on to finished_at + the retention for the job's
-- status a few minutes after the job finished, which moves the row (row movement) into a weekly
-- partition `jobdeck_private.jobs_p<monday>` holding purge_on from that Monday to the next; it
-- creates those partitions ahead. Retention (pruneJobs, the prune_jobs task) then drops whole
-- partitions whose week is past, instead of deleting rows one by one. `jobs_default` catches
-- a row whose week has no partition yet (it should stay empty).
--
-- The partitions are in jobdeck_private: never exposed to GraphQL, no grants; the API reads them
-- through `jobdeck.jobs`, its policies and grants. The worker's functions find rows by id with
-- `purge_on = 'infinity'`, so the planner prunes to jobs_live.
--
-- The table is rebuilt: a partitioned table cannot be made from an existing one. The old table is
-- renamed, its rows copied (all to jobs_live: the service moves the finished ones in batches after
-- the upgrade), and it is dropped with `cascade`, which also drops what depends on its row type:
-- the functions that return or take `jobdeck.jobs` and the views reading it. migrate re-applies
-- their sql/ files right after this migration (a missing function, view or trigger is put back;
-- docs/sql.md), together with the triggers of jobs. What is not in sql/ is re-created here:
-- the policies of job_events and job_steps that read jobs, the grants, row-level security and the
-- table's comment; the columns' comments and CHECK constraints are copied by `like`.
--
-- Foreign keys can no longer reference jobs (a referenced key must include purge_on): the ones of
-- job_steps and job_signals (000017) are dropped with the old table; deleting a job deletes its
-- steps and signals through the delete trigger, as it already did its events (000006;
-- sql/events/tg_jobs__after_delete.sql), and pruneJobs deletes a partition's events, steps and
-- signals before dropping it.
--
-- Uniqueness that must hold among unfinished jobs (a job's key, its Graphile job) is enforced per
-- partition, by unique indexes that include purge_on; the constraint `unfinished_is_live` keeps
-- every unfinished job in jobs_live, so among them it is the same uniqueness as before. Whatever
-- brings a finished job back (retry, reviving a dependant) sets purge_on = 'infinity' with its
-- status, or that constraint refuses it.
--
-- Renumber at merge if another branch took 000024 first: the runner wants numbers without gaps.

alter table jobdeck.jobs rename to jobs_before_000024;

create table jobdeck.jobs (
  like jobdeck.jobs_before_000024 including defaults including constraints including comments including storage,
  purge_on date not null default 'infinity',
  constraint unfinished_is_live check (purge_on = 'infinity' or status in ('succeeded', 'failed', 'cancelled'))
) partition by range (purge_on);

comment on column jobdeck.jobs.purge_on is
  E'@behavior -*\nThe day from which the job may be dropped (its history partition); infinity while it is unfinished or recently finished (jobs_live).';
-- GraphQL keeps identifying a job by its id alone (jobById, the relations of events and steps).
comment on table jobdeck.jobs is
  E'@behavior -insert -update -delete\n@primaryKey id\nEvery job jobdeck knows of, from enqueue to its end; the history.';

-- fillfactor as the table had (000001): room for HOT updates of the rows that change. History
-- rows do not change, so their partitions are packed.
create table jobdeck_private.jobs_live partition of jobdeck.jobs
  for values from ('infinity') to (maxvalue) with (fillfactor = 80);
create table jobdeck_private.jobs_default partition of jobdeck.jobs default;
comment on table jobdeck_private.jobs_live is
  'The partition of jobdeck.jobs holding every unfinished job and the recently finished ones (purge_on infinity).';
comment on table jobdeck_private.jobs_default is
  'The safety net of jobdeck.jobs: a row whose history week has no partition yet. Normally empty.';

insert into jobdeck.jobs select o.*, 'infinity' from jobdeck.jobs_before_000024 o;

-- The indexes as the table has them (whatever earlier migrations made them), re-created on the
-- partitioned table once the old one is gone (their names are taken until then), so every
-- partition gets them. A unique index must include the partition key: purge_on is added to it.
create temporary table jobs_indexes_000024 on commit drop as
  select c.relname::text as name, i.indisunique as is_unique,
         pg_get_indexdef(i.indexrelid) as def, obj_description(i.indexrelid, 'pg_class') as comment
    from pg_index i join pg_class c on c.oid = i.indexrelid
   where i.indrelid = 'jobdeck.jobs_before_000024'::regclass and not i.indisprimary;

drop table jobdeck.jobs_before_000024 cascade;

alter table jobdeck.jobs add constraint jobs_pkey primary key (id, purge_on);
-- GraphQL's key is the `@primaryKey id` of the table's comment; this one is for the database.
comment on constraint jobs_pkey on jobdeck.jobs is '@behavior -*';
do $$
declare
  v record;
  v_def text;
  v_head text;
  v_where integer;
begin
  for v in select * from pg_temp.jobs_indexes_000024 order by name loop
    v_def := replace(v.def, ' ON jobdeck.jobs_before_000024 ', ' ON jobdeck.jobs ');
    if v.is_unique then
      -- CREATE UNIQUE INDEX n ON t USING btree (cols) [WHERE …]: purge_on joins the columns.
      v_where := strpos(v_def, ' WHERE ');
      v_head := case when v_where > 0 then left(v_def, v_where - 1) else v_def end;
      v_def := left(v_head, -1) || ', purge_on)' || case when v_where > 0 then substr(v_def, v_where) else '' end;
    end if;
    execute v_def;
    if v.comment is not null then
      execute format('comment on index jobdeck.%I is %L', v.name, v.comment);
    end if;
  end loop;
end;
$$;

alter table jobdeck.jobs enable row level security;
create policy jobs_select_org on jobdeck.jobs for select to jobdeck_admin
  using (org_id = jobdeck.current_org_id() and jobdeck.current_user_can('jobs.view_jobs'));
create policy jobs_select_own on jobdeck.jobs for select to jobdeck_user
  using (owner_id = jobdeck.current_user_id() and org_id = jobdeck.current_org_id()
         and jobdeck.current_user_can('jobs.view_jobs'));
create policy jobs_select_system on jobdeck.jobs for select to jobdeck_system using (true);
grant select on jobdeck.jobs to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;

-- Events and steps follow their job (000004, 000017); the cascade dropped these with the old table.
create policy job_events_select on jobdeck.job_events for select to jobdeck_user, jobdeck_admin
  using (exists (select 1 from jobdeck.jobs j where j.id = job_events.job_id));
create policy job_steps_select on jobdeck.job_steps for select to jobdeck_user, jobdeck_admin
  using (exists (select 1 from jobdeck.jobs j where j.id = job_steps.job_id));

-- Deleting a partition's jobs deletes their steps and signals by job id, as their events.
create index job_signals_job_idx on jobdeck_private.job_signals (job_id);
