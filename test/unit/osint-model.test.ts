import { describe, expect, it } from 'vitest';
import { logLineUuid } from '../../src/http/rest/osint.ts';
import {
  cpuUsagePercent,
  jobLogLevelOf,
  jobStatusesOf,
  memoryUsageMb,
  OSINT_LOG_LEVELS,
  OSINT_STATUS_OF,
  OSINT_STATUSES,
  osintPriorityOf,
} from '../../src/jobs/osint-model.ts';
import { Priority } from '../../src/jobs/policy.ts';
import { JOB_STATUSES } from '../../src/jobs/states.ts';

describe("seed 003's vocabulary", () => {
  it('maps every jobdeck status onto one seed status, and each seed status back', () => {
    expect(OSINT_STATUS_OF).toEqual({
      waiting: 'PENDING',
      queued: 'PENDING',
      retrying: 'PENDING',
      running: 'RUNNING',
      succeeded: 'COMPLETED',
      failed: 'FAILED',
      cancelled: 'CANCELLED',
    });
    expect(OSINT_STATUSES.flatMap(jobStatusesOf).sort()).toEqual([...JOB_STATUSES].sort());
    expect(jobStatusesOf('PENDING')).toEqual(['waiting', 'queued', 'retrying']);
  });

  it("puts jobdeck's named priorities in the seed's bands, and every number in one", () => {
    expect(osintPriorityOf(Priority.urgent)).toBe('URGENT');
    expect(osintPriorityOf(Priority.high)).toBe('HIGH');
    expect(osintPriorityOf(Priority.normal)).toBe('NORMAL');
    expect(osintPriorityOf(Priority.low)).toBe('LOW');
    expect([-32768, -11, -10, -1, 0, 1, 32767].map(osintPriorityOf)).toEqual([
      'URGENT',
      'URGENT',
      'HIGH',
      'HIGH',
      'NORMAL',
      'LOW',
      'LOW',
    ]);
  });

  it('maps log levels both ways', () => {
    expect(OSINT_LOG_LEVELS.map(jobLogLevelOf)).toEqual(['debug', 'info', 'warn', 'error']);
  });

  it('derives memory in MiB and CPU in percent of one core over the attempt', () => {
    const started = new Date('2026-01-01T00:00:00Z');
    const at = (ms: number) => new Date(started.getTime() + ms);
    expect(memoryUsageMb({ peak_rss_bytes: String(200 * 1048576 + 1) })).toBe(200);
    expect(memoryUsageMb({ peak_rss_bytes: null })).toBeNull();
    const row = {
      status: 'running' as const,
      peak_rss_bytes: null,
      cpu_ms: '500',
      started_at: started,
      finished_at: null,
      heartbeat_at: at(2_000),
      updated_at: at(9_000),
    };
    expect(cpuUsagePercent(row)).toBe(25);
    expect(cpuUsagePercent({ ...row, status: 'succeeded', finished_at: at(1_000) })).toBe(50);
    expect(cpuUsagePercent({ ...row, status: 'retrying', heartbeat_at: null })).toBe(5.6);
    expect(cpuUsagePercent({ ...row, cpu_ms: null })).toBeNull();
    expect(cpuUsagePercent({ ...row, started_at: null })).toBeNull();
  });

  it("gives log lines stable UUIDs made from their numbers (the seed's JobLog.id)", () => {
    expect(logLineUuid('1')).toBe('00000000-0000-8000-8000-000000000001');
    expect(logLineUuid(255)).toBe('00000000-0000-8000-8000-0000000000ff');
  });
});
