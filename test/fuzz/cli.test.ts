import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMANDS, parseCommandLine, type CommandLine } from '../../src/cli/command-line.ts';
import { UsageError } from '../../src/cli/usage.ts';
import { runCli } from '../helpers/cli.ts';
import {
  edgeNumber,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  injection,
  nastyString,
} from '../helpers/fuzz.ts';

/**
 * Random command lines: the CLI's parser (`parseCommandLine`, which checks every flag before a
 * command touches a database) returns a checked command or throws a UsageError naming the
 * problem, never anything else; and the `jobdeck` process answers a refused command line with
 * exit code 2 and that message on stderr.
 */

const FLAGS = [
  'user',
  'org',
  'role',
  'ttl',
  'permissions',
  'json',
  'priority',
  'run-at',
  'max-attempts',
  'key',
  'key-mode',
  'queue',
  'owner',
  'active',
  'status',
  'type',
  'limit',
  'reason',
  'wait',
  'since',
  'tasks',
  'crontab',
  'dir',
];

/** Values flags take, plus ones they should not. */
const flagValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'alice',
      'acme',
      'user',
      'admin',
      'owner',
      '1h',
      '30m',
      '0s',
      '999999d',
      '1.5h',
      'jobs.view_jobs',
      'jobs.view_jobs,jobs.nuke',
      'urgent',
      'HIGH',
      'constructor',
      '__proto__',
      'toString',
      'keep',
      'replace',
      'queued',
      'done',
      '50',
      '0',
      '1001',
      '-1',
      '007',
      '1e3',
      '2024-01-01T00:00:00Z',
      '+275760-09-13T00:00:00Z',
      '0000-01-01',
      'yesterday',
      '24h',
      '99999999d',
    ),
  },
  { weight: 2, arbitrary: edgeNumber.map(String) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constant('') },
);

/** One argv token: a flag (with its value glued on, after it, or missing), or a positional. */
const token = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...FLAGS), flagValue, fc.constantFrom('space', 'equals', 'bare'))
      .map(([flag, value, how]) =>
        how === 'equals'
          ? [`--${flag}=${value}`]
          : how === 'space'
            ? [`--${flag}`, value]
            : [`--${flag}`],
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.uuid(),
        fc.constantFrom(
          'export_report',
          'import_file',
          '{"reportType":"quotes","format":"csv"}',
          '{"a":',
          '[1,2',
          'null',
          '1e400',
          `${'['.repeat(5000)}${']'.repeat(5000)}`,
        ),
        injection,
      )
      .map((positional) => [positional]),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('-h', '-x', '-', '--', '---', '--no-json', '--JSON', '--help', '-jv', '--=x')
      .map((flag) => [flag]),
  },
  { weight: 1, arbitrary: nastyString.map((text) => [text]) },
);

/** A command (known, now and then not) and a few tokens after it. */
const commandLine = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...COMMANDS, 'help') },
      { weight: 1, arbitrary: fc.constantFrom('--help', '-h', 'Enqueue', '', 'constructor') },
      { weight: 1, arbitrary: nastyString },
    ),
    fc.array(token, { maxLength: 6 }),
  )
  .map(([command, tokens]) => [command, ...tokens.flat()]);

/** What a parsed command must look like (the commands rely on it). */
function checkShape(parsed: CommandLine, what: string): void {
  switch (parsed.command) {
    case 'help':
      expect([0, 2], what).toContain(parsed.exitCode);
      break;
    case 'token':
      expect(parsed.user.length, what).toBeGreaterThan(0);
      expect(parsed.org.length, what).toBeGreaterThan(0);
      expect(['user', 'admin'], what).toContain(parsed.role);
      expect(Number.isInteger(parsed.ttlSeconds) && parsed.ttlSeconds >= 1, what).toBe(true);
      break;
    case 'enqueue': {
      expect((parsed.template ?? parsed.type).length, what).toBeGreaterThan(0);
      const { priority, maxAttempts, runAt, keyMode } = parsed.options;
      if (priority !== undefined) expect(Number.isInteger(priority), what).toBe(true);
      if (maxAttempts !== undefined) expect(maxAttempts, what).toBeGreaterThanOrEqual(1);
      if (runAt !== undefined) expect(String(runAt), what).toMatch(/^\d{4}-\d\d-\d\dT/);
      if (keyMode !== undefined) expect(['keep', 'replace'], what).toContain(keyMode);
      break;
    }
    case 'jobs':
      expect(parsed.limit, what).toBeGreaterThanOrEqual(1);
      expect(parsed.limit, what).toBeLessThanOrEqual(1000);
      break;
    case 'watch':
    case 'cancel':
    case 'retry':
      expect(parsed.id.length, what).toBeGreaterThan(0);
      break;
    case 'stats':
      expect(Number.isNaN(parsed.since.getTime()), what).toBe(false);
      break;
    case 'start':
    case 'worker':
    case 'serve':
    case 'migrate':
      for (const value of [parsed.tasksDir, parsed.crontabFile])
        if (value !== undefined) expect(value.length, what).toBeGreaterThan(0);
      if (parsed.command === 'serve') expect(parsed.crontabFile, what).toBeUndefined();
      break;
    case 'init':
      expect(parsed.dir.length, what).toBeGreaterThan(0);
      break;
  }
}

/** Parses argv; returns 'ok' or the refusal's message, failing on any other exception. */
function parseOrRefuse(argv: string[]): string {
  const what = JSON.stringify(argv).slice(0, 500);
  try {
    const parsed = parseCommandLine(argv);
    checkShape(parsed, what);
    expect(JSON.stringify(parsed), what).toBeTypeOf('string');
    return 'ok';
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    expect(error.message, what).toMatch(/\S/);
    return error.message;
  }
}

describe('CLI flags (property-based)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('parses any command line into a checked command or a usage error', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(commandLine, (argv) => {
        if (parseOrRefuse(argv) === 'ok') accepted += 1;
        else refused += 1;
      }),
      fuzzParameters(),
    );
    // both sides were reached
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('parses arrays of arbitrary strings without any other exception', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(nastyString, fc.string()), { maxLength: 8 }), (argv) => {
        parseOrRefuse(argv);
      }),
      fuzzParameters(),
    );
  });

  it('exits 2 with the reason on stderr for a refused command line', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['jobs', '--limit', '0'],
      ['jobs', '--json=1'],
      ['enqueue'],
      ['enqueue', 'export_report', '{"reportType":'],
      ['enqueue', 'export_report', '--priority', 'constructor'],
      ['enqueue', 'export_report', '--run-at', '+275760-09-13T00:00:00Z'],
      ['token', '--user', 'alice'],
      ['stats', '--since', `'; drop table jobdeck.jobs; --`],
      ['cancel', 'a', 'b'],
      ['retry', '--bogus'],
      ['worker', '--tasks'],
      ['migrate', '--crontab='],
      ['serve', '--crontab', 'crontab'],
      ['init', 'here'],
    ];
    // and a few refused command lines from the generator (argv carries neither NUL nor text that
    // is not valid UTF-8 unchanged)
    const sampled = fc
      .sample(commandLine, { numRuns: 200, seed: 42 })
      .filter((argv) =>
        argv.every((arg) => !arg.includes('\u0000') && Buffer.from(arg).toString() === arg),
      )
      .filter((argv) => parseOrRefuse(argv) !== 'ok')
      .slice(0, 3);
    for (const argv of [...cases, ...sampled]) {
      // no database, no configuration: a command line is refused before either is needed
      const result = await runCli(argv, {});
      const what = `jobdeck ${JSON.stringify(argv).slice(0, 200)}: ${result.stderr.slice(0, 300)}`;
      expect(result.code, what).toBe(2);
      if (argv.length === 0) {
        expect(result.stdout, what).toMatch(/^Usage: jobdeck/);
        continue;
      }
      const reason = parseOrRefuse(argv);
      expect(result.stderr, what).toContain(`jobdeck: ${reason}\n`);
      expect(result.stderr, what).toMatch(/Usage: jobdeck <command>/);
      expect(result.stderr, what).not.toMatch(/\n\s+at /);
    }
  });
});
