-- jobdeck_private.api_enqueue_key(type, priority, max_attempts, key, refused): checks an enqueue
-- by a signed-in API caller and returns its key in the caller's own key space.
-- requires: api/current_org_id.sql api/current_user_id.sql auth/caller_scope.sql
--
-- The one set of rules for jobs a request role enqueues (jobdeck.enqueue_job,
-- jobdeck.enqueue_from_template): a key of 1 to 400
-- characters; below 'all' scope the priority in the named range (-20..10, so one tenant cannot
-- jump ahead of every other), max_attempts 1..25, and only task types with api_enqueue (`refused`
-- is the message otherwise). The key is stored with a prefix that encodes (org, owner)
-- unambiguously, so no two callers share a key space. The caller's identity and permission are
-- checked before (authorize_job, and both ids present): this only checks the request.

create or replace function jobdeck_private.api_enqueue_key(
  type text, priority integer, max_attempts integer, key text, refused text
) returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if key is not null and (length(key) < 1 or length(key) > 400) then
    raise exception 'key must be 1 to 400 characters, got %', length(key) using errcode = 'JD004';
  end if;
  if jobdeck_private.caller_scope() <> 'all' then
    if priority is not null and priority not between -20 and 10 then
      raise exception 'priority must be from -20 (urgent) to 10 (low), got %', priority using errcode = 'JD004';
    end if;
    if max_attempts is not null and max_attempts not between 1 and 25 then
      raise exception 'max_attempts must be from 1 to 25, got %', max_attempts using errcode = 'JD004';
    end if;
    if exists (select 1 from jobdeck_private.task_types t where t.type = api_enqueue_key.type and not t.api_enqueue) then
      raise exception '%', refused using errcode = '42501';
    end if;
  end if;
  return case when key is null then null
              else 'u:' || md5(json_build_array(jobdeck.current_org_id(), jobdeck.current_user_id())::text) || ':' || key end;
end;
$$;
revoke all on function jobdeck_private.api_enqueue_key(type text, priority integer, max_attempts integer, key text, refused text) from public;
