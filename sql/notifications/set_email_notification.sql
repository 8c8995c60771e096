-- jobdeck_private.set_email_notification(job_id, recipients, events): who is mailed, and when.
-- requires: start/forget_start_data.sql
--
-- Given at enqueue by trusted callers only (jobdeck.enqueue, jobdeck.enqueue_many). The checks
-- repeat the TypeScript client's (src/jobs/email.ts), so SQL callers get the same refusals: 1 to
-- 10 addresses of the form local@domain, each at most 254 characters, no spaces, commas, angle
-- brackets or quotes (a display name or a second address slipped into one entry would widen the
-- audience); events among succeeded and failed (default both). Addresses are not echoed: they
-- are personal data and end up in logs.

create or replace function jobdeck_private.set_email_notification(
  job_id uuid, recipients text[], events text[]
) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job jobdeck.jobs;
  v_to text[];
  v_on text[] := coalesce(events, array['succeeded', 'failed']);
  v_i integer;
begin
  select pg_catalog.array_agg(distinct r) into v_to
    from pg_catalog.unnest(recipients) r;
  if v_to is null or pg_catalog.cardinality(v_to) < 1 or pg_catalog.cardinality(v_to) > 10 then
    raise exception 'notify_email must list 1 to 10 addresses, got %', coalesce(pg_catalog.cardinality(v_to), 0)
      using errcode = 'JD004';
  end if;
  for v_i in 1 .. pg_catalog.cardinality(recipients) loop
    if recipients[v_i] is null or pg_catalog.length(recipients[v_i]) > 254
       or recipients[v_i] !~ '^[^\s@<>,;:"()\[\]\\]+@[^\s@<>,;:"()\[\]\\]+\.[^\s@<>,;:"()\[\]\\]+$' then
      raise exception 'notify_email[%] is not an e-mail address (local@domain.tld, at most 254 characters)', v_i
        using errcode = 'JD004';
    end if;
  end loop;
  if pg_catalog.cardinality(v_on) < 1
     or exists (select 1 from pg_catalog.unnest(v_on) e where e is null or e not in ('succeeded', 'failed')) then
    raise exception 'notify_on must list succeeded and/or failed' using errcode = 'JD004';
  end if;
  update jobdeck.jobs j
     set notify_email = pg_catalog.jsonb_build_object(
           'to', pg_catalog.to_jsonb(v_to),
           'on', (select pg_catalog.jsonb_agg(distinct e) from pg_catalog.unnest(v_on) e))
   where j.id = job_id
  returning j.* into v_job;
  perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
  return v_job;
end;
$$;
revoke all on function jobdeck_private.set_email_notification(job_id uuid, recipients text[], events text[]) from public;
