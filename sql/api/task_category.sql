-- jobdeck.task_category(type): the category a task type declares (import, export, validation,
-- processing), or null when it declares none or no process registered it.
--
-- Security definer: task_types is the owner's, and the request roles read the category of their
-- own jobs' types through this function only (the DataBiz widget, `GET /api/v2/jobs/active`,
-- answers it as the job's `type`). A category says nothing about any tenant, and which types
-- exist is no secret either (an unknown type's error lists them). Not in GraphQL: functions are
-- opt-in there (src/graphql/schema-plugins.ts).

create or replace function jobdeck.task_category(type text) returns text
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select t.category from jobdeck_private.task_types t where t.type = task_category.type
$$;
comment on function jobdeck.task_category is
  'The category a task type declares (import, export, validation, processing), or null.';
revoke all on function jobdeck.task_category(type text) from public;
grant execute on function jobdeck.task_category(type text) to jobdeck_user, jobdeck_admin;
