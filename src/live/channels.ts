import { createHash } from 'node:crypto';

/** The kinds of channel jobs are announced on (see `jobdeck.channel_name()` in SQL). */
export type ChannelKind = 'job' | 'owner' | 'org';

/**
 * The NOTIFY channel for a job, owner or org. Mirrors `jobdeck.channel_name()`: ids that would
 * push the name past PostgreSQL's 63-byte limit are replaced by their md5.
 */
export function channelName(kind: ChannelKind, id: string): string {
  const plain = `jobdeck:${kind}:${id}`;
  if (Buffer.byteLength(plain, 'utf8') <= 63) return plain;
  return `jobdeck:${kind}:#${createHash('md5').update(id, 'utf8').digest('hex')}`;
}

/** What a job notification carries: enough to decide whether to re-read, nothing private. */
export interface JobNotification {
  id: string;
  status: string;
  progress: number;
  /** The job's owner and organisation (null when unset), for servers that fan changes out. */
  owner?: string | null;
  org?: string | null;
}

export function parseJobNotification(payload: string | undefined): JobNotification | null {
  if (!payload) return null;
  try {
    const value = JSON.parse(payload) as JobNotification;
    return typeof value.id === 'string' ? value : null;
  } catch {
    return null;
  }
}
