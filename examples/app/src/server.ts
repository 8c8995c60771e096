import { fastifyCookie } from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { createJobdeck, z, type Identity } from 'jobdeck';
import { jobdeckFastify } from 'jobdeck/server';
import { logIn, SESSION_COOKIE, userForSession, type AppUser } from './auth.ts';
import { createAppDb } from './db.ts';

export interface AppOptions {
  connectionString: string;
}

const loginBody = z.object({ user: z.string().min(1), password: z.string().min(1) });
const uploadBody = z.object({
  filename: z.string().min(1).max(200),
  content: z
    .string()
    .min(1)
    .max(1024 * 1024),
});

/** A session cookie from a request's headers (websocket upgrades included). */
function sessionToken(headers: { cookie?: string | undefined }): string | undefined {
  return headers.cookie ? fastifyCookie.parse(headers.cookie)[SESSION_COOKIE] : undefined;
}

/**
 * The application: its own login and uploads, and jobdeck's API (GraphQL, REST, live streams,
 * dashboard) mounted under /jobs-api, where the application's session decides who you are.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { pool, db } = createAppDb(options.connectionString);
  // jobdeck's client runs on the application's own pool, so enqueues share its transactions.
  const jobdeck = createJobdeck({ pool });
  const app = Fastify();
  app.addHook('onClose', async () => {
    await jobdeck.close();
    await db.destroy();
  });
  await app.register(fastifyCookie);

  const currentUser = (request: FastifyRequest): Promise<AppUser | null> =>
    userForSession(db, sessionToken(request.headers));

  // The application's users become jobdeck identities: row-level security then shows each user
  // their own jobs and an admin their organisation's, with no jobdeck token involved.
  await app.register(jobdeckFastify, {
    prefix: '/jobs-api',
    connectionString: options.connectionString,
    identify: async (request: {
      headers: { cookie?: string | undefined };
    }): Promise<Pick<Identity, 'userId' | 'orgId' | 'role'> | null> => {
      const user = await userForSession(db, sessionToken(request.headers));
      return user ? { userId: user.id, orgId: user.orgId, role: user.role } : null;
    },
  });

  app.post('/login', async (request, reply) => {
    const body = loginBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: 'user and password are required' });
    const token = await logIn(db, body.data.user, body.data.password);
    if (!token) return reply.code(401).send({ error: 'wrong user or password' });
    reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax' });
    return { user: body.data.user };
  });

  // The upload and its import job are written in one transaction: a refused upload (say, a
  // file name this user already uploaded) leaves no job behind.
  app.post('/uploads', async (request, reply) => {
    const user = await currentUser(request);
    if (!user) return reply.code(401).send({ error: 'log in first' });
    const body = uploadBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: body.error.issues[0]?.message });
    try {
      const upload = await db.transaction().execute(async (trx) => {
        const job = await jobdeck.enqueueJob(
          'import_upload',
          { filename: body.data.filename },
          { tx: trx, ownerId: user.id, orgId: user.orgId },
        );
        return trx
          .insertInto('uploads')
          .values({
            owner_id: user.id,
            org_id: user.orgId,
            filename: body.data.filename,
            content: body.data.content,
            row_count: null,
            summary: null,
            import_job_id: job.id,
          })
          .returning(['id', 'filename', 'status', 'import_job_id'])
          .executeTakeFirstOrThrow();
      });
      return reply.code(201).send(upload);
    } catch (error) {
      if ((error as { constraint?: string }).constraint === 'uploads_filename_unique')
        return reply.code(409).send({ error: `you already uploaded ${body.data.filename}` });
      throw error;
    }
  });

  app.get<{ Params: { id: string } }>('/uploads/:id', async (request, reply) => {
    const user = await currentUser(request);
    if (!user) return reply.code(401).send({ error: 'log in first' });
    const upload = await db
      .selectFrom('uploads')
      .select(['id', 'filename', 'status', 'row_count', 'summary', 'import_job_id'])
      .where('id', '=', request.params.id)
      .where('owner_id', '=', user.id)
      .executeTakeFirst();
    return upload ?? reply.code(404).send({ error: 'no such upload' });
  });

  return app;
}
