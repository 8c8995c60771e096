-- Enqueue a job from a trigger: every uploaded file gets an `import_file` job, in the same
-- transaction as the insert. If the insert rolls back, so does the job.
create table uploads (
  id          bigint generated always as identity primary key,
  filename    text not null,
  uploaded_by text not null,
  org_id      text,
  created_at  timestamptz not null default now()
);

create function tg_uploads__enqueue_import() returns trigger
language plpgsql as $$
begin
  perform jobdeck.enqueue(
    'import_file',
    jsonb_build_object('filename', new.filename),
    owner_id => new.uploaded_by,
    org_id => new.org_id,
    related_type => 'upload',
    related_id => new.id::text
  );
  return new;
end;
$$;

create trigger _500_enqueue_import
  after insert on uploads
  for each row execute function tg_uploads__enqueue_import();
