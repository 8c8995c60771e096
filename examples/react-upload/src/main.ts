import { buildServer } from './server.ts';

// `npm run build`, then DATABASE_URL=… JOBDECK_JWT_SECRET=… npm start (and `npx jobdeck worker`).
const connectionString = process.env['DATABASE_URL'];
const jwtSecret = process.env['JOBDECK_JWT_SECRET'];
if (!connectionString || !jwtSecret) {
  console.error('set DATABASE_URL and JOBDECK_JWT_SECRET (the secret the worker and API share)');
  process.exit(1);
}
const app = await buildServer({ connectionString, jwtSecret });
const port = Number(process.env['PORT'] ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`open http://127.0.0.1:${port}/`);
