import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

describe('loadConfig()', () => {
  it('has working defaults with nothing set, resolving paths against the folder', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      databaseUrl: undefined,
      dataDir: '/srv/app/.jobdeck',
      tasksDir: '/srv/app/tasks',
      concurrency: 10,
      localQueueSize: 20,
      defaultMaxAttempts: 3,
    });
  });

  it('treats empty values as unset (a copied .env.example works)', () => {
    expect(loadConfig({ DATABASE_URL: '', JOBDECK_CONCURRENCY: ' ' }).concurrency).toBe(10);
  });

  it('names every bad variable and what is wrong with it', () => {
    let error: unknown;
    try {
      loadConfig({
        JOBDECK_CONCURRENCY: '0',
        JOBDECK_LOG_LEVEL: 'loud',
        DATABASE_URL: 'localhost:5432',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/JOBDECK_CONCURRENCY="0": .*>=1/);
    expect(problems).toMatch(/JOBDECK_LOG_LEVEL="loud"/);
    expect(problems).toMatch(/DATABASE_URL="localhost:5432": must start with postgres/);
  });

  it('reads how long finished jobs stay in the live partition, from 0 to a week', () => {
    expect(loadConfig({}).historyAfterSeconds).toBe(600);
    expect(loadConfig({ JOBDECK_HISTORY_AFTER_SECONDS: '0' }).historyAfterSeconds).toBe(0);
    expect(() => loadConfig({ JOBDECK_HISTORY_AFTER_SECONDS: '-1' })).toThrow(
      /JOBDECK_HISTORY_AFTER_SECONDS="-1"/,
    );
    expect(() => loadConfig({ JOBDECK_HISTORY_AFTER_SECONDS: '604801' })).toThrow(
      /JOBDECK_HISTORY_AFTER_SECONDS="604801"/,
    );
  });

  it('names a bad issue-18 setting and what is wrong with it', () => {
    expect(() => loadConfig({ JOBDECK_DEV_SIGNIN: 'yes' })).toThrow(/JOBDECK_DEV_SIGNIN="yes"/);
    expect(() => loadConfig({ JOBDECK_METRICS_ORG_LABEL: '1' })).toThrow(
      /JOBDECK_METRICS_ORG_LABEL="1"/,
    );
    expect(() => loadConfig({ JOBDECK_WEBHOOK_ALLOW_INTERNAL: '10.0.0.0/8, 10.0.0.0/99' })).toThrow(
      /JOBDECK_WEBHOOK_ALLOW_INTERNAL="10.0.0.0\/8, 10.0.0.0\/99": "10.0.0.0\/99" is not a CIDR range/,
    );
    expect(() => loadConfig({ JOBDECK_WEBHOOK_ALLOW_INTERNAL: 'http://hooks' })).toThrow(
      /"http:\/\/hooks" is neither an IP address, a CIDR range nor a host name/,
    );
    expect(
      loadConfig({ JOBDECK_WEBHOOK_ALLOW_INTERNAL: '10.0.0.0/8 ::1,hooks.internal.' })
        .webhookAllowInternal,
    ).toEqual(['10.0.0.0/8', '::1', 'hooks.internal.']);
  });

  it('turns GraphiQL and the dev sign-in off by default beyond loopback and in production', () => {
    expect(loadConfig({})).toMatchObject({ graphiql: true, devSignin: false });
    expect(loadConfig({ JOBDECK_HOST: '0.0.0.0' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).graphiql).toBe(false);
    expect(loadConfig({ JOBDECK_HOST: '::1', JOBDECK_DEV_SIGNIN: 'true' }).devSignin).toBe(true);
    expect(resolveConfig({ host: '0.0.0.0' }).graphiql).toBe(false);
  });

  it('takes DATABASE_LISTEN_URL beside DATABASE_URL only, naming it when wrong', () => {
    const direct = 'postgres://owner:secret@db:5432/app';
    expect(
      loadConfig({
        DATABASE_URL: 'postgres://owner:secret@bouncer:6432/app',
        DATABASE_LISTEN_URL: direct,
      }).databaseListenUrl,
    ).toBe(direct);
    expect(loadConfig({}).databaseListenUrl).toBeUndefined();
    expect(() =>
      loadConfig({ DATABASE_URL: direct, DATABASE_LISTEN_URL: 'mysql://db/app' }),
    ).toThrow(/DATABASE_LISTEN_URL="mysql:\/\/db\/app": must start with postgres:\/\//);
    expect(() => loadConfig({ DATABASE_LISTEN_URL: direct })).toThrow(
      /DATABASE_LISTEN_URL="postgres:\/\/owner:\*\*\*@db:5432\/app": is only for when DATABASE_URL/,
    );
  });

  it('takes JOBDECK_REPLICA_URL beside DATABASE_URL only, naming it when wrong', () => {
    const primary = 'postgres://owner:secret@db:5432/app';
    const replica = 'postgres://owner:secret@replica:5432/app';
    expect(loadConfig({ DATABASE_URL: primary, JOBDECK_REPLICA_URL: replica }).replicaUrl).toBe(
      replica,
    );
    expect(loadConfig({}).replicaUrl).toBeUndefined();
    expect(() =>
      loadConfig({ DATABASE_URL: primary, JOBDECK_REPLICA_URL: 'replica:5432/app' }),
    ).toThrow(/JOBDECK_REPLICA_URL="replica:5432\/app": must start with postgres:\/\//);
    expect(() => loadConfig({ JOBDECK_REPLICA_URL: replica })).toThrow(
      /JOBDECK_REPLICA_URL="postgres:\/\/owner:\*\*\*@replica:5432\/app": is a standby of the database DATABASE_URL names/,
    );
  });

  it('turns the local queue off with 0 and sizes it from concurrency with -1', () => {
    expect(loadConfig({ JOBDECK_LOCAL_QUEUE_SIZE: '0' }).localQueueSize).toBe(0);
    expect(loadConfig({ JOBDECK_CONCURRENCY: '7' }).localQueueSize).toBe(14);
  });

  it('has job-control defaults, and refuses a rescue threshold a live worker could miss', () => {
    expect(loadConfig({})).toMatchObject({
      shutdownTimeoutMs: 30_000,
      cancelGraceMs: 10_000,
      heartbeatIntervalMs: 1000,
      rescueAfterMs: 15_000,
      orgConcurrency: undefined,
    });
    expect(loadConfig({ JOBDECK_ORG_CONCURRENCY: '5' }).orgConcurrency).toBe(5);
    expect(() =>
      loadConfig({ JOBDECK_HEARTBEAT_INTERVAL_MS: '5000', JOBDECK_RESCUE_AFTER_MS: '10000' }),
    ).toThrow(/JOBDECK_RESCUE_AFTER_MS=10000: must be at least 3 × JOBDECK_HEARTBEAT_INTERVAL_MS/);
    expect(() => loadConfig({ JOBDECK_ORG_CONCURRENCY: '-1' })).toThrow(ConfigError);
  });

  it('reads per-queue concurrency limits, naming a bad entry', () => {
    expect(loadConfig({}).queueConcurrency).toEqual({});
    expect(
      loadConfig({ JOBDECK_QUEUE_CONCURRENCY: 'reports=3, emails=10 old=none' }).queueConcurrency,
    ).toEqual({ reports: 3, emails: 10, old: null });
    expect(() => loadConfig({ JOBDECK_QUEUE_CONCURRENCY: 'reports=0' })).toThrow(
      'JOBDECK_QUEUE_CONCURRENCY="reports=0": the limit of queue "reports" must be a whole number from 1 to 100000, or none; got "0"',
    );
    expect(() => loadConfig({ JOBDECK_QUEUE_CONCURRENCY: 'reports' })).toThrow(
      /entry "reports" must be queue=limit/,
    );
    expect(() => loadConfig({ JOBDECK_QUEUE_CONCURRENCY: 'a=1,a=2' })).toThrow(
      /queue "a" is listed twice/,
    );
  });
});

describe('resolveConfig()', () => {
  it('puts settings given in code over the defaults, without reading the environment', () => {
    const previous = process.env['JOBDECK_CONCURRENCY'];
    process.env['JOBDECK_CONCURRENCY'] = '99';
    try {
      const config = resolveConfig({ dataDir: 'state', sseHeartbeatMs: 500 }, '/srv/app');
      expect(config).toMatchObject({
        dataDir: '/srv/app/state',
        sseHeartbeatMs: 500,
        concurrency: 10,
        graphiql: true,
      });
    } finally {
      if (previous === undefined) delete process.env['JOBDECK_CONCURRENCY'];
      else process.env['JOBDECK_CONCURRENCY'] = previous;
    }
  });

  it('derives what follows from an override unless that is given too', () => {
    const config = resolveConfig({ production: true, maxPayloadBytes: 1000, concurrency: 4 });
    expect(config).toMatchObject({ graphiql: false, maxBodyBytes: 1000 + 64 * 1024 });
    expect(config.localQueueSize).toBe(8);
    expect(resolveConfig({ production: true, graphiql: true }).graphiql).toBe(true);
  });

  it('takes a whole loaded configuration as it is', () => {
    const loaded = loadConfig({ JOBDECK_PORT: '5000', NODE_ENV: 'production' }, '/srv/app');
    expect(resolveConfig(loaded, '/elsewhere')).toEqual(loaded);
  });
});
