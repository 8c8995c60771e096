import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, SCHEMA_DUMP_FILE } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { describeDifference, dumpOf } from '../helpers/schema.ts';

describe('migrations/schema.sql', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('is the dump of a migrated database (run npm run schema:dump when it is not)', async () => {
    const committed = await readFile(path.join(MIGRATIONS_DIR, SCHEMA_DUMP_FILE), 'utf8');
    const actual = await dumpOf(t.pool);
    if (actual !== committed) {
      expect.fail(
        'migrations/schema.sql does not match the migrated database: run `npm run schema:dump` ' +
          `and commit migrations/schema.sql with the change that caused it.\n${describeDifference(
            committed,
            actual,
            ['migrations/schema.sql', 'migrated database'],
          )}`,
      );
    }
  });
});
