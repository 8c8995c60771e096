/**
 * PgBouncer for the tests: the soak starts the same one (soak/pgbouncer.ts), so there is one copy
 * of its configuration. The tests that need it are skipped, with a warning, when it is missing.
 */
export {
  havePgBouncer,
  PGBOUNCER,
  startPgBouncer,
  type PgBouncer as TestPgBouncer,
} from '../../soak/pgbouncer.ts';
