import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { createJobdeck, signScopedToken } from 'jobdeck';
import { jobdeckFastify } from 'jobdeck/server';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface UploadServerOptions {
  connectionString: string;
  /** Signs the per-job tokens; jobdeck's API verifies them with the same secret. */
  jwtSecret: string;
  /** Where uploads are saved (default `<example>/uploads`). */
  uploadsDir?: string;
  /** Milliseconds per slice of the processing job (the test slows it down to cancel one). */
  stepDelayMs?: number;
}

/**
 * The application: the built page (`dist/`), `POST /api/uploads`, and jobdeck's API under
 * `/jobdeck`. An upload is saved, its processing job enqueued, and the page gets the job's id and
 * a token that can read (and cancel) that one job for ten minutes, nothing else.
 */
export async function buildServer(options: UploadServerOptions): Promise<FastifyInstance> {
  const uploadsDir = options.uploadsDir ?? path.join(ROOT, 'uploads');
  await mkdir(uploadsDir, { recursive: true });
  const app = Fastify({ bodyLimit: 1024 * 1024 });
  const jobdeck = createJobdeck({ connectionString: options.connectionString });
  app.addHook('onClose', () => jobdeck.close());

  await app.register(jobdeckFastify, {
    prefix: '/jobdeck',
    connectionString: options.connectionString,
    config: { jwtSecret: options.jwtSecret },
  });

  app.post('/api/uploads', async (request, reply) => {
    const body = request.body as { filename?: unknown; content?: unknown } | null;
    if (typeof body?.filename !== 'string' || typeof body.content !== 'string')
      return reply.code(400).send({ error: 'send {filename, content}' });
    // This example has no sign-in: every visitor is "demo". An application takes its session's
    // user here, and the job is theirs.
    const user = { id: 'demo', orgId: 'example' };
    const saved = path.join(uploadsDir, randomUUID());
    await writeFile(saved, body.content);
    const job = await jobdeck.enqueueJob(
      'process_upload',
      {
        filename: path.basename(body.filename),
        path: saved,
        ...(options.stepDelayMs === undefined ? {} : { stepDelayMs: options.stepDelayMs }),
      },
      { ownerId: user.id, orgId: user.orgId },
    );
    const token = await signScopedToken(options.jwtSecret, {
      jobId: job.id,
      userId: user.id,
      orgId: user.orgId,
      allowCancel: true,
      ttlSeconds: 600,
    });
    return reply.code(201).send({ jobId: job.id, token });
  });

  await app.register(fastifyStatic, { root: path.join(ROOT, 'dist') });
  return app;
}
