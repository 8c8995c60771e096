-- jobdeck 000004: the API's roles, row-level security and the functions GraphQL exposes.
--
-- Roles (cluster-wide, created once, shared by every jobdeck database on the cluster):
--   jobdeck_api        NOINHERIT; the API server's connections start as this role, which can do
--                      nothing itself and switches per request (SET LOCAL ROLE) to one of:
--   jobdeck_anonymous  no token: sees nothing, may do nothing;
--   jobdeck_user       a signed-in user: their own jobs in their organisation;
--   jobdeck_admin      an organisation admin: every job of their organisation.
-- The identity comes from the verified JWT as settings jwt.claims.sub / .org / .role /
-- .permissions, set by the server for the request's transaction only.
--
-- Migrations and workers keep running as the owner of the tables, which row-level security does
-- not restrict; so the TypeScript client, the CLI and SQL triggers see every job as before.

do $$
declare
  v_role text;
begin
  foreach v_role in array array['jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin', 'jobdeck_api'] loop
    if not exists (select 1 from pg_roles where rolname = v_role) then
      begin
        if v_role = 'jobdeck_api' then
          execute format('create role %I login noinherit', v_role);
        else
          execute format('create role %I nologin', v_role);
        end if;
      exception
        when duplicate_object or unique_violation then null; -- another database's migration made it
        when insufficient_privilege then
          raise exception 'cannot create role %: the migrating user % needs CREATEROLE once, or a DBA can create the roles jobdeck_anonymous, jobdeck_user, jobdeck_admin (nologin) and jobdeck_api (login noinherit) beforehand',
            v_role, current_user using errcode = '42501';
      end;
    end if;
  end loop;
  -- jobdeck_api switches to the three request roles; the migrating user (the owner the server
  -- connects as) switches to jobdeck_api and, through it, on to them.
  foreach v_role in array array['jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin'] loop
    if not pg_has_role('jobdeck_api', v_role, 'member') then
      begin
        execute format('grant %I to jobdeck_api', v_role);
      exception when others then
        if not pg_has_role('jobdeck_api', v_role, 'member') then raise; end if;
      end;
    end if;
  end loop;
  if not (select rolsuper from pg_roles where rolname = current_user) then
    foreach v_role in array array['jobdeck_api', 'jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin'] loop
      if not pg_has_role(current_user, v_role, 'member') then
        execute format('grant %I to %I', v_role, current_user);
      end if;
    end loop;
  end if;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Who is asking

comment on function jobdeck.channel_name(text, text) is '@behavior -*';

create function jobdeck.current_user_id() returns text
language sql stable parallel safe as $$
  select nullif(current_setting('jwt.claims.sub', true), '')
$$;
comment on function jobdeck.current_user_id() is 'The signed-in user (JWT `sub`), or null.';

create function jobdeck.current_org_id() returns text
language sql stable parallel safe as $$
  select nullif(current_setting('jwt.claims.org', true), '')
$$;
comment on function jobdeck.current_org_id() is 'The signed-in user''s organisation (JWT `org`), or null.';

-- Seed 004's permissions: jobs.create_jobs, jobs.view_jobs, jobs.cancel_jobs, jobs.retry_jobs.
-- Both roles have all four unless the token's `permissions` claim lists fewer, so a host app can
-- carry its RBAC into the token. The server sets jwt.claims.permissions to '*' when the token
-- has no such claim, else to the comma-separated list (empty: none); unset means none.
create function jobdeck.current_user_can(permission text) returns boolean
language sql stable parallel safe as $$
  select current_setting('role', true) in ('jobdeck_user', 'jobdeck_admin')
     and jobdeck.current_user_id() is not null
     and jobdeck.current_org_id() is not null
     and (current_setting('jwt.claims.permissions', true) = '*'
          or permission = any (string_to_array(current_setting('jwt.claims.permissions', true), ',')))
$$;
comment on function jobdeck.current_user_can(text) is
  'Whether the signed-in user holds a permission (jobs.create_jobs, jobs.view_jobs, jobs.cancel_jobs, jobs.retry_jobs).';

-- The caller's scope inside SECURITY DEFINER functions, where current_user is the owner: the
-- `role` setting still names the role the request switched to (session_user when none was).
-- 'all' for the owner of the jobdeck schema, superusers, and roles unrelated to the API (the
-- workers, the CLI, the app's own role in its triggers); for the API's roles and any role made a
-- member of them (e.g. a login role `in role jobdeck_user`) 'org', 'own' or 'none'.
create function jobdeck_private.caller_scope() returns text
language plpgsql stable as $$
declare
  v_role name := coalesce(nullif(current_setting('role', true), 'none'), session_user);
begin
  if v_role = (select r.rolname from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = 'jobdeck')
     or (select r.rolsuper from pg_roles r where r.rolname = v_role) then
    return 'all';
  elsif pg_has_role(v_role, 'jobdeck_admin', 'member') then
    return 'org';
  elsif pg_has_role(v_role, 'jobdeck_user', 'member') then
    return 'own';
  elsif pg_has_role(v_role, 'jobdeck_anonymous', 'member') or pg_has_role(v_role, 'jobdeck_api', 'member') then
    return 'none';
  end if;
  return 'all';
end;
$$;

-- Raises unless the caller may act on the job: `permission` for API callers, and the job must be
-- theirs (or their organisation's, for an admin). A job they may not see is "not found", exactly
-- as a job that does not exist, so ids leak nothing.
create function jobdeck_private.authorize_job(job_id uuid, permission text) returns void
language plpgsql stable as $$
declare
  v_scope text := jobdeck_private.caller_scope();
begin
  if v_scope = 'all' then
    return;
  elsif v_scope = 'none' then
    raise exception 'sign in first: this needs a bearer token' using errcode = '42501';
  elsif not jobdeck.current_user_can(permission) then
    raise exception 'permission denied: your token lacks %', permission using errcode = '42501';
  end if;
  if job_id is not null and not exists (
    select 1 from jobdeck.jobs j
     where j.id = authorize_job.job_id
       and j.org_id = jobdeck.current_org_id()
       and (v_scope = 'org' or j.owner_id = jobdeck.current_user_id())
  ) then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Row-level security. Only reads are granted to the request roles; every change goes through
-- the functions below, which check the caller themselves.

alter table jobdeck.jobs enable row level security;
alter table jobdeck.job_events enable row level security;
alter table jobdeck_private.task_types enable row level security;
alter table jobdeck_private.settings enable row level security;
alter table jobdeck_private.workers enable row level security;

grant usage on schema jobdeck to jobdeck_anonymous, jobdeck_user, jobdeck_admin;
grant select on jobdeck.jobs, jobdeck.job_events to jobdeck_anonymous, jobdeck_user, jobdeck_admin;

create policy jobs_select_own on jobdeck.jobs for select to jobdeck_user
  using (owner_id = jobdeck.current_user_id() and org_id = jobdeck.current_org_id()
         and jobdeck.current_user_can('jobs.view_jobs'));
create policy jobs_select_org on jobdeck.jobs for select to jobdeck_admin
  using (org_id = jobdeck.current_org_id() and jobdeck.current_user_can('jobs.view_jobs'));
-- Events follow their job: the subquery is itself filtered by the policies above.
create policy job_events_select on jobdeck.job_events for select to jobdeck_user, jobdeck_admin
  using (exists (select 1 from jobdeck.jobs j where j.id = job_events.job_id));

-- ---------------------------------------------------------------------------------------------
-- What GraphQL shows. Smart comments rename and hide; see src/graphql/preset.ts for the rest.

comment on table jobdeck.jobs is
  E'@behavior -insert -update -delete\nEvery job jobdeck knows of, from enqueue to its end; the history.';
comment on table jobdeck.job_events is
  E'@behavior -insert -update -delete -query:resource:list -query:resource:connection -single\nLog lines written by tasks and the status transitions of each job.';
comment on constraint job_events_job_id_fkey on jobdeck.job_events is
  E'@foreignFieldName events\n@fieldName job';
comment on column jobdeck.jobs.gw_job_id is E'@behavior -*\nGraphile Worker''s job id of the current attempt.';
comment on column jobdeck.jobs.status is
  E'@behavior +filterBy +orderBy\nqueued, running, succeeded, failed, cancelled or retrying (docs/job-states.md).';
comment on column jobdeck.jobs.current_step is E'@behavior +filterBy\nWhat the task says it is doing now.';
comment on column jobdeck.jobs.priority is E'@behavior +filterBy +orderBy\nLower runs first (urgent -20, high -10, normal 0, low 10).';
comment on column jobdeck.jobs.progress is E'@behavior +filterBy +orderBy\nPercent done, 0..100.';
comment on column jobdeck.jobs.updated_at is E'@behavior +filterBy +orderBy';
comment on column jobdeck.jobs.started_at is E'@behavior +filterBy +orderBy';
comment on column jobdeck.jobs.run_at is E'@behavior +filterBy +orderBy';

-- ---------------------------------------------------------------------------------------------
-- Webhooks (seeds 003/004): a URL per job (given at enqueue by trusted callers) or per task type,
-- called when the job succeeds or fails. Each call is itself a tracked `deliver_webhook` job,
-- enqueued in the transaction that finishes the job, with its own retries and backoff.

alter table jobdeck.jobs add column webhook_url text
  constraint webhook_url_is_http check (webhook_url ~ '^https?://[^\s]+$' and length(webhook_url) <= 2000);
comment on column jobdeck.jobs.webhook_url is 'Called (POST, signed) when the job succeeds or fails.';
alter table jobdeck_private.task_types add column webhook_url text;

create function jobdeck_private.set_webhook(job_id uuid, url text) returns jobdeck.jobs
language plpgsql volatile as $$
declare
  v_job jobdeck.jobs;
begin
  if url !~ '^https?://[^\s]+$' or length(url) > 2000 then
    raise exception 'webhook_url must be an http(s) URL of at most 2000 characters, got %', left(url, 200)
      using errcode = 'JD004';
  end if;
  update jobdeck.jobs j set webhook_url = url where j.id = job_id returning j.* into v_job;
  return v_job;
end;
$$;

-- Deliveries belong to no user or organisation: the URL (and any secret in it) is the app's, so
-- API users neither see nor cancel them; operators see them in the CLI, the TypeScript client
-- and /metrics. A finish never fails because of a webhook: a delivery that cannot be enqueued
-- is skipped with a warning in the server log.
create function jobdeck_private.tg_jobs__webhooks() returns trigger
language plpgsql as $$
declare
  d record;
begin
  if not exists (select 1 from jobdeck_private.task_types where type = 'deliver_webhook') then
    return null;
  end if;
  for d in
    select n.id, n.status, coalesce(n.webhook_url, t.webhook_url) as url
      from new_rows n
      join old_rows o on o.id = n.id
      left join jobdeck_private.task_types t on t.type = n.type
     where n.status in ('succeeded', 'failed') and o.status is distinct from n.status
       and n.type <> 'deliver_webhook' and coalesce(n.webhook_url, t.webhook_url) is not null
  loop
    begin
      perform jobdeck_private.enqueue(
        'deliver_webhook', jsonb_build_object('jobId', d.id, 'url', d.url, 'event', 'job.' || d.status),
        0, null, null, null, null, null, null, 'job', d.id::text, '{}'::jsonb, 'keep');
    exception when others then
      raise warning 'jobdeck: webhook delivery for job % not enqueued: %', d.id, sqlerrm;
    end;
  end loop;
  return null;
end;
$$;

create trigger _600_webhooks after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__webhooks();

-- Task types a task module marks `enqueueFromApi: false` (maintenance such as prune_jobs) can be
-- enqueued by trusted callers only.
alter table jobdeck_private.task_types add column api_enqueue boolean not null default true;

-- ---------------------------------------------------------------------------------------------
-- Announcements now carry the job's owner and organisation, so a server fanning them out to
-- subscribers checks both against the subscriber's identity without a lookup (and whatever
-- channel name two ids might share once hashed).

create or replace function jobdeck_private.tg_jobs__after_insert() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress,
                              'owner', n.owner_id, 'org', n.org_id)::text as message
    from new_rows n
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select n.id, 'transition', 'info',
         case when n.status = 'running' then 'running (attempt ' || n.attempts || ')' else n.status end,
         n.attempts
  from new_rows n;
  return null;
end;
$$;

create or replace function jobdeck_private.tg_jobs__after_update() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress,
                              'owner', n.owner_id, 'org', n.org_id)::text as message
    from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at,
           n.held_at is null, n.run_at, n.owner_id, n.org_id)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at,
           o.held_at is null, o.run_at, o.owner_id, o.org_id)
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  insert into jobdeck.job_events (job_id, kind, level, message, data, attempt)
  select n.id, 'transition',
         case n.status when 'failed' then 'error' when 'retrying' then 'warn' else 'info' end,
         case
           when n.status in ('failed', 'retrying') and jsonb_array_length(n.errors) > jsonb_array_length(o.errors)
             then n.status || ': ' || left(n.errors -> -1 ->> 'message', 500)
           when n.status = 'retrying' then 'retrying at ' || to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
           when n.status = 'queued' and o.status = 'running' then 'queued again: the attempt was interrupted by a worker shutdown'
           when n.status = 'cancelled' and n.cancel_reason is not null then 'cancelled: ' || left(n.cancel_reason, 500)
           when n.status = 'running' and o.status = 'running' then 'running (attempt ' || n.attempts || ', rescued)'
           when n.status = 'running' then 'running (attempt ' || n.attempts || ')'
           else n.status
         end,
         jsonb_build_object('from', o.status, 'to', n.status) ||
           case when n.status = 'retrying' then jsonb_build_object('runAt', n.run_at) else '{}' end,
         n.attempts
  from new_rows n join old_rows o on o.id = n.id
  where n.status is distinct from o.status
     or (n.status = 'running' and n.attempts is distinct from o.attempts);
  return null;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Reads

-- Unfinished jobs, newest first; served by the partial index jobs_active_idx however long the
-- history grows. SECURITY INVOKER: the caller's row-level security applies.
create function jobdeck.active_jobs() returns setof jobdeck.jobs
language sql stable as $$
  select j.* from jobdeck.jobs j
   where j.status in ('queued', 'running', 'retrying')
   order by j.created_at desc, j.id desc
$$;
comment on function jobdeck.active_jobs() is
  E'@behavior +filter +order\nJobs that are queued, running or waiting to retry, newest first.';

-- Stats now read with the caller's rights, so row-level security scopes them to what the caller
-- may see; trusted callers still see every job.
alter function jobdeck.job_stats(timestamptz, text) security invoker;

-- One row per attempt, from the job's transition events: when it started and ended, how, on
-- which worker, and the error it failed with.
create type jobdeck.job_attempt as (
  attempt     integer,
  started_at  timestamptz,
  finished_at timestamptz,
  outcome     text,
  message     text,
  error       jsonb
);
comment on type jobdeck.job_attempt is
  'One attempt of a job. outcome: running, succeeded, failed, retrying (failed, will retry), cancelled, interrupted (the worker stopped or was lost).';

create function jobdeck.jobs_attempt_history(job jobdeck.jobs) returns setof jobdeck.job_attempt
language sql stable as $$
  with t as (
    -- every transition into running opens an attempt (n counts them)
    select e.id, e.at, e.attempt, e.message, e.data ->> 'to' as to_status,
           count(*) filter (where e.data ->> 'to' = 'running') over (order by e.id) as n
      from jobdeck.job_events e
     where e.job_id = job.id and e.kind = 'transition'
  ), attempts as (
    select t.n,
           min(t.at) filter (where t.to_status = 'running') as started_at,
           min(t.attempt) filter (where t.to_status = 'running') as attempt,
           (array_agg(t.at order by t.id) filter (where t.to_status <> 'running'))[1] as ended_at,
           (array_agg(t.to_status order by t.id) filter (where t.to_status <> 'running'))[1] as ended_as,
           (array_agg(t.message order by t.id) filter (where t.to_status <> 'running'))[1] as message
      from t where t.n > 0 group by t.n
  ), spans as (
    select a.*, lead(a.started_at) over (order by a.n) as next_started_at from attempts a
  )
  select s.attempt, s.started_at,
         coalesce(s.ended_at, s.next_started_at),
         case
           when s.ended_as is null and s.next_started_at is not null then 'interrupted'
           when s.ended_as is null then 'running'
           when s.ended_as = 'queued' then 'interrupted'
           else s.ended_as
         end,
         coalesce(s.message, case when s.next_started_at is not null then 'the worker was lost; rescued' end),
         (select e from jsonb_array_elements(job.errors) e
           where (e ->> 'attempt')::integer = s.attempt
             and (e ->> 'at')::timestamptz >= s.started_at
             and (e ->> 'at')::timestamptz <= coalesce(s.ended_at, s.next_started_at, 'infinity')
           order by (e ->> 'at')::timestamptz limit 1)
    from spans s
   order by s.n
$$;
comment on function jobdeck.jobs_attempt_history(jobdeck.jobs) is
  'Every attempt of this job, oldest first, with its outcome and error (message and stack).';

-- ---------------------------------------------------------------------------------------------
-- Changes. The landed functions move to jobdeck_private unchanged; jobdeck keeps their names as
-- wrappers that check the caller first, so existing callers (TypeScript, CLI, SQL) are unaffected.

alter function jobdeck.cancel_job(uuid, text) set schema jobdeck_private;
alter function jobdeck.retry_job(uuid) set schema jobdeck_private;
alter function jobdeck.enqueue(text, jsonb, integer, timestamptz, integer, text, text, text, text, text, text, jsonb, text)
  set schema jobdeck_private;
alter function jobdeck.enqueue_many(jsonb) set schema jobdeck_private;

create function jobdeck.cancel_job(id uuid, reason text default null) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  if cancel_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(cancel_job.id, 'jobs.cancel_jobs');
  return jobdeck_private.cancel_job(cancel_job.id, reason);
end;
$$;
comment on function jobdeck.cancel_job(uuid, text) is
  E'@resultFieldName job\nCancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished, 42501 not allowed.';

create function jobdeck.retry_job(id uuid) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  if retry_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(retry_job.id, 'jobs.retry_jobs');
  begin
    return jobdeck_private.retry_job(retry_job.id);
  exception when sqlstate 'JD011' then
    -- the message may name another job that holds the key; API callers must not learn of it
    if jobdeck_private.caller_scope() <> 'all' and sqlerrm like '%key%' then
      raise exception 'job % cannot be retried while another unfinished job holds its key', retry_job.id
        using errcode = 'JD011', detail = json_build_object('status', 'conflict')::text;
    end if;
    raise;
  end;
end;
$$;
comment on function jobdeck.retry_job(uuid) is
  E'@resultFieldName job\nRun a failed or cancelled job again with a fresh attempt budget; earlier errors are kept. Errors: JD010, JD011, 42501.';

-- The trusted enqueue takes owner and organisation as arguments, so API callers may not use it:
-- they have enqueue_job, which takes both from the token.
create function jobdeck_private.deny_api_caller(what text) returns void
language plpgsql stable as $$
begin
  if jobdeck_private.caller_scope() <> 'all' then
    raise exception '% is not available to API callers; use jobdeck.enqueue_job()', what using errcode = '42501';
  end if;
end;
$$;

create function jobdeck.enqueue(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null,
  queue text default null,
  owner_id text default null,
  org_id text default null,
  related_type text default null,
  related_id text default null,
  metadata jsonb default '{}',
  key_mode text default 'keep',
  webhook_url text default null
) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_job jobdeck.jobs;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue()');
  v_job := jobdeck_private.enqueue(type, payload, priority, run_at, max_attempts, key, queue, owner_id, org_id,
                                   related_type, related_id, metadata, key_mode);
  if webhook_url is not null then
    v_job := jobdeck_private.set_webhook(v_job.id, webhook_url);
  end if;
  return v_job;
end;
$$;
comment on function jobdeck.enqueue is
  'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option.';

create function jobdeck.enqueue_many(specs jsonb) returns setof jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_job jobdeck.jobs;
  v_i   integer := 0;
  v_url text;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_many()');
  -- the jobs come back in the order of their specs
  for v_job in select * from jobdeck_private.enqueue_many(specs) loop
    v_url := specs -> v_i ->> 'webhookUrl';
    if v_url is null then
      v_url := specs -> v_i ->> 'webhook_url';
    end if;
    if v_url is not null then
      v_job := jobdeck_private.set_webhook(v_job.id, v_url);
    end if;
    v_i := v_i + 1;
    return next v_job;
  end loop;
end;
$$;
comment on function jobdeck.enqueue_many(jsonb) is
  'Enqueue many tracked jobs at once (a JSON array of enqueue() specs): all or none.';

-- Enqueue for a signed-in user: owner and organisation come from the token, never from the
-- arguments. Keys deduplicate within the user's own jobs only (they are stored with a per-user
-- prefix), so one user's key never finds another user's job.
create function jobdeck.enqueue_job(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null
) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_owner text := jobdeck.current_user_id();
  v_org   text := jobdeck.current_org_id();
  v_job   jobdeck.jobs;
begin
  if jobdeck_private.caller_scope() = 'none' then
    raise exception 'sign in first: this needs a bearer token' using errcode = '42501';
  end if;
  if v_owner is null or v_org is null then
    raise exception 'enqueue_job needs a signed-in user: the token must carry sub and org' using errcode = '42501';
  end if;
  if jobdeck_private.caller_scope() <> 'all' and not jobdeck.current_user_can('jobs.create_jobs') then
    raise exception 'permission denied: your token lacks jobs.create_jobs' using errcode = '42501';
  end if;
  if key is not null and (length(key) < 1 or length(key) > 400) then
    raise exception 'key must be 1 to 400 characters, got %', length(key) using errcode = 'JD004';
  end if;
  if jobdeck_private.caller_scope() <> 'all' then
    -- One tenant must not jump ahead of every other: API priorities stay in the named range.
    if priority is not null and priority not between -20 and 10 then
      raise exception 'priority must be from -20 (urgent) to 10 (low), got %', priority using errcode = 'JD004';
    end if;
    if max_attempts is not null and max_attempts not between 1 and 25 then
      raise exception 'max_attempts must be from 1 to 25, got %', max_attempts using errcode = 'JD004';
    end if;
    if exists (select 1 from jobdeck_private.task_types t where t.type = enqueue_job.type and not t.api_enqueue) then
      raise exception 'job type "%" cannot be enqueued through the API', type using errcode = '42501';
    end if;
  end if;
  v_job := jobdeck_private.enqueue(
    type, coalesce(payload, '{}'::jsonb), coalesce(priority, 0), run_at, max_attempts,
    -- the prefix encodes (org, owner) unambiguously, so no two callers share a key space
    case when key is null then null else 'u:' || md5(json_build_array(v_org, v_owner)::text) || ':' || key end,
    null, v_owner, v_org, null, null, '{}'::jsonb, 'keep');
  if v_job.owner_id is distinct from v_owner or v_job.org_id is distinct from v_org then
    raise exception 'key "%" is taken by a job that is not yours', key using errcode = 'JD004';
  end if;
  return v_job;
end;
$$;
comment on function jobdeck.enqueue_job is
  E'@resultFieldName job\nEnqueue a job as the signed-in user (owner and organisation from the token). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, 42501 not allowed.';

revoke execute on function jobdeck.enqueue_job(text, jsonb, integer, timestamptz, integer, text) from public;
grant execute on function jobdeck.enqueue_job(text, jsonb, integer, timestamptz, integer, text)
  to jobdeck_anonymous, jobdeck_user, jobdeck_admin;
