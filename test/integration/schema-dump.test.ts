import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_DIR, SCHEMA_DUMP_FILE } from '../../src/db/migrate.ts';
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

  it('is the same for a database migrated by 000001–000007 first, then by this version', async () => {
    // The runner as it was before sql/: numbered migrations 000001–000007 only.
    const landed = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-landed-'));
    const old = await createTestDatabase({ migrated: false });
    try {
      for (const name of await readdir(MIGRATIONS_DIR)) {
        if (/^00000[1-7]_.*\.sql$/.test(name)) {
          await cp(path.join(MIGRATIONS_DIR, name), path.join(landed, name));
        }
      }
      expect((await migrate(old.pool, { dir: landed, sqlDir: null })).applied).toHaveLength(7);
      const upgrade = await migrate(old.pool);
      // 000008 and every migration after it.
      const later = (await readdir(MIGRATIONS_DIR))
        .filter((name) => /^\d{6}_.*\.sql$/.test(name) && Number(name.slice(0, 6)) >= 8)
        .sort();
      expect(upgrade.applied).toEqual(later);
      expect(later[0]).toBe('000008_sql_files.sql');
      expect(upgrade.sql.length).toBeGreaterThan(40);
      const upgraded = await dumpOf(old.pool);
      const fresh = await dumpOf(t.pool);
      if (upgraded !== fresh) {
        expect.fail(
          describeDifference(fresh, upgraded, ['fresh database', 'upgraded from 000007']),
        );
      }
    } finally {
      await old.drop();
      await rm(landed, { recursive: true, force: true });
    }
  });
});
