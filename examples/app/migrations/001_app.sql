-- The application's own tables. jobdeck's tables live in the schemas jobdeck and
-- jobdeck_private, migrated by `migrate()` from the jobdeck package.
create table if not exists users (
  id            text primary key,
  org_id        text not null,
  role          text not null default 'user' check (role in ('user', 'admin')),
  password_hash text not null
);

create table if not exists sessions (
  token      text primary key,
  user_id    text not null references users (id) on delete cascade,
  expires_at timestamptz not null
);

create table if not exists uploads (
  id            bigint generated always as identity primary key,
  owner_id      text not null references users (id),
  org_id        text not null,
  filename      text not null,
  content       text not null,
  status        text not null default 'pending' check (status in ('pending', 'imported', 'failed')),
  row_count     integer,
  summary       jsonb,
  import_job_id uuid not null,
  created_at    timestamptz not null default now(),
  constraint uploads_filename_unique unique (owner_id, filename)
);

-- Once an upload is imported, the database itself enqueues its summary: the job exists iff the
-- status change commits.
create or replace function tg_uploads__enqueue_summary() returns trigger
language plpgsql as $$
begin
  perform jobdeck.enqueue(
    'summarize_upload',
    jsonb_build_object('uploadId', new.id),
    owner_id => new.owner_id,
    org_id => new.org_id,
    related_type => 'upload',
    related_id => new.id::text
  );
  return new;
end;
$$;

drop trigger if exists _500_enqueue_summary on uploads;
create trigger _500_enqueue_summary
  after update of status on uploads
  for each row when (new.status = 'imported' and old.status is distinct from 'imported')
  execute function tg_uploads__enqueue_summary();
