-- jobdeck.enqueue_many(specs): the trusted bulk enqueue, all or none.
-- requires: auth/deny_api_caller.sql enqueue/enqueue_many.sql webhooks/set_webhook.sql
--
-- `specs` is a JSON array of objects with the fields of enqueue() in camelCase or snake_case,
-- plus webhookUrl. Refused to API callers, like enqueue(). The jobs come back in the order of
-- their specs.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck.enqueue_many(specs jsonb) returns setof jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
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
revoke all on function jobdeck.enqueue_many(specs jsonb) from public;
grant execute on function jobdeck.enqueue_many(specs jsonb) to jobdeck_system;
