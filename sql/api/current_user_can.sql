-- jobdeck.current_user_can(permission): whether the signed-in user holds a permission.
-- requires: api/current_org_id.sql api/current_user_id.sql
--
-- Seed 004's permissions: jobs.create_jobs, jobs.view_jobs, jobs.cancel_jobs, jobs.retry_jobs.
-- Both roles have all four unless the token's `permissions` claim lists fewer, so a host app can
-- carry its RBAC into the token. The server sets jwt.claims.permissions to '*' when the token
-- has no such claim, else to the comma-separated list (empty: none); unset means none.
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck.current_user_can(permission text) returns boolean
language sql stable parallel safe
as $$
  select pg_catalog.current_setting('role', true) in ('jobdeck_user', 'jobdeck_admin')
     and jobdeck.current_user_id() is not null
     and jobdeck.current_org_id() is not null
     and (pg_catalog.current_setting('jwt.claims.permissions', true) = '*'
          or permission = any (pg_catalog.string_to_array(pg_catalog.current_setting('jwt.claims.permissions', true), ',')))
$$;
comment on function jobdeck.current_user_can(text) is
  'Whether the signed-in user holds a permission (jobs.create_jobs, jobs.view_jobs, jobs.cancel_jobs, jobs.retry_jobs).';
revoke all on function jobdeck.current_user_can(permission text) from public;
grant execute on function jobdeck.current_user_can(permission text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
