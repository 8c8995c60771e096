-- jobdeck_private.set_webhook(job_id, url): sets the URL called when the job succeeds or fails.
-- requires: start/forget_start_data.sql
--
-- Given at enqueue by trusted callers only (jobdeck.enqueue, jobdeck.enqueue_many).

create or replace function jobdeck_private.set_webhook(job_id uuid, url text) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job jobdeck.jobs;
begin
  if url !~ '^https?://[^\s]+$' or length(url) > 2000 then
    -- The URL itself is not repeated: it may carry a secret (docs/security.md).
    raise exception 'webhook_url must be an http(s) URL of at most 2000 characters, got % characters starting "%"',
      length(url), left(url, 8) using errcode = 'JD004';
  end if;
  update jobdeck.jobs j set webhook_url = url where j.id = job_id returning j.* into v_job;
  perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
  return v_job;
end;
$$;
revoke all on function jobdeck_private.set_webhook(job_id uuid, url text) from public;
