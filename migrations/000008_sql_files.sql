-- jobdeck 000008: functions, trigger functions and views live in sql/, one file each (docs/sql.md).
--
-- From here on, numbered migrations hold tables, indexes, constraints and data changes. After
-- them, migrate re-applies every sql/ file whose text differs from the one recorded here, in the
-- order the files' `-- requires:` headers give, in one transaction. The functions 000001–000007
-- define stay as they are until then: sql/ holds the same definitions, so on a database migrated
-- before this one the first run re-creates them unchanged.

create table jobdeck_private.sql_files (
  -- relative to sql/, e.g. worker/finish_jobs.sql
  path       text primary key,
  -- sha256 of the file's text as applied
  checksum   text not null,
  -- the jobdeck version that applied it: an older copy of jobdeck leaves newer definitions alone
  version    text not null,
  applied_at timestamptz not null default now()
);

comment on table jobdeck_private.sql_files is
  'The sql/ files applied to this database and their checksums; migrate re-applies a file whose text changed.';
