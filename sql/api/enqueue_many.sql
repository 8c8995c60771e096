-- jobdeck.enqueue_many(specs): the trusted bulk enqueue, all or none.
-- requires: auth/deny_api_caller.sql enqueue/enqueue_many.sql webhooks/set_webhook.sql
-- requires: notifications/set_email_notification.sql
--
-- `specs` is a JSON array of objects with the fields of enqueue() in camelCase or snake_case,
-- plus webhookUrl, notifyEmail (an address or an array of them) and notifyOn. Refused to API
-- callers, like enqueue(). The jobs come back in the order of their specs.
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
  v_spec jsonb;
  v_to jsonb;
  v_on jsonb;
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
    v_spec := specs -> v_i;
    v_to := coalesce(v_spec -> 'notifyEmail', v_spec -> 'notify_email');
    v_on := coalesce(v_spec -> 'notifyOn', v_spec -> 'notify_on');
    if jsonb_typeof(v_to) = 'string' then
      v_to := jsonb_build_array(v_to);
    end if;
    if v_to is not null and jsonb_typeof(v_to) <> 'null' then
      v_job := jobdeck_private.set_email_notification(
        v_job.id,
        array(select jsonb_array_elements_text(v_to)),
        case when v_on is null or jsonb_typeof(v_on) = 'null' then null
             else array(select jsonb_array_elements_text(v_on)) end);
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
