import { buildApp } from './server.ts';
import { migrateApp } from './migrate.ts';
import { createAppDb } from './db.ts';

const connectionString = process.env['DATABASE_URL'];
if (!connectionString) {
  console.error('set DATABASE_URL to the application database');
  process.exit(2);
}
const { pool } = createAppDb(connectionString);
await migrateApp(pool);
await pool.end();
const app = await buildApp({ connectionString });
const address = await app.listen({ port: Number(process.env['PORT'] ?? 3000) });
console.log(`app on ${address}; jobdeck's dashboard on ${address}/jobs-api/`);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void app.close().then(() => process.exit(0)));
