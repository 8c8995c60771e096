-- jobdeck 000025: which workers read start data (issue 23).
--
-- A job's Graphile job may carry its start data next to `jobdeckId` (sql/start/graphile_payload.sql);
-- a worker from before that takes such a payload for a job added straight to Graphile Worker. Each
-- worker now says in its heartbeat that it reads start data (sql/worker/heartbeat.sql), and no job
-- gets start data while a worker that has not said so is registered
-- (sql/start/start_data_allowed.sql). Workers registered before this migration are such workers
-- until they stop or are rescued.

alter table jobdeck_private.workers add column reads_start_data boolean not null default false;
comment on column jobdeck_private.workers.reads_start_data is
  'Whether the worker starts a job from the start data in its Graphile job (migration 000025); while a worker without it is registered, no job gets start data.';
