-- jobdeck_private.estimate_eta(started_at, progress, median_ms): when a running attempt should end.
--
-- The one ETA formula: start_jobs and mark_running write it when an attempt starts, the worker's
-- progress statement (src/worker/tracker.ts) each time the attempt reports progress, so the three
-- agree. With progress between 1 and 99 % it extrapolates the attempt's own rate; before any
-- progress (and at 100 %) it falls back to the start plus the type's median run time
-- (task_types.median_ms, refreshed by refresh_type_stats), which is null until a median is known.
--
-- A plain SQL expression, stable, with no settings: PostgreSQL inlines it into the calling
-- statement, so it costs what the expression written out in place did. Callers pass the median as
-- a sub-select; inlined, it is read only when the fallback is taken. (A `set` clause or security
-- definer here would stop the inlining.)
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck_private.estimate_eta(started_at timestamptz, progress integer, median_ms bigint)
returns timestamptz
language sql stable
as $$
  select case
    when progress between 1 and 99
      then pg_catalog.now() + (pg_catalog.now() - started_at) * ((100 - progress)::float8 / progress::float8)
    else started_at + median_ms::float8 * interval '1 millisecond'
  end
$$;
revoke all on function jobdeck_private.estimate_eta(started_at timestamp with time zone, progress integer, median_ms bigint) from public;
