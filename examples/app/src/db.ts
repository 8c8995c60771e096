import { Kysely, PostgresDialect, type Generated, type Selectable } from 'kysely';
import pg from 'pg';

/** The application's own tables (migrations/001_app.sql). */
export interface AppDatabase {
  users: { id: string; org_id: string; role: 'user' | 'admin'; password_hash: string };
  sessions: { token: string; user_id: string; expires_at: Date };
  uploads: {
    id: Generated<string>;
    owner_id: string;
    org_id: string;
    filename: string;
    content: string;
    status: Generated<'pending' | 'imported' | 'failed'>;
    row_count: number | null;
    summary: unknown;
    import_job_id: string;
    created_at: Generated<Date>;
  };
}

export type Upload = Selectable<AppDatabase['uploads']>;

/** The application's pool and its typed Kysely over it. */
export function createAppDb(connectionString: string): { pool: pg.Pool; db: Kysely<AppDatabase> } {
  const pool = new pg.Pool({ connectionString, max: 10 });
  // An idle connection the server drops must not take the process down with it.
  pool.on('error', (error) => console.error(`database connection lost: ${error.message}`));
  const db = new Kysely<AppDatabase>({ dialect: new PostgresDialect({ pool }) });
  return { pool, db };
}
