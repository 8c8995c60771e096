import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import type { AnyTaskDefinition } from './task.ts';

/** Task definitions by job type. */
export type TaskRegistry = Map<string, AnyTaskDefinition>;

const TASK_FILE = /^([A-Za-z0-9_.:-]{1,128})\.(ts|js|mjs)$/;

/**
 * Loads every task module in `dir`: file name = job type, default export = `defineTask({...})`
 * (or a bare function). Files starting with `_` and test files are skipped.
 */
export async function loadTasks(dir: string): Promise<TaskRegistry> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    throw new Error(`cannot read the tasks folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const registry: TaskRegistry = new Map();
  for (const name of names) {
    if (name.startsWith('_') || name.endsWith('.d.ts') || /\.(test|spec)\./.test(name)) continue;
    const match = TASK_FILE.exec(name);
    if (!match) continue;
    const type = match[1]!;
    if (registry.has(type)) throw new Error(`two task modules define "${type}" in ${dir}`);
    const mod = (await import(pathToFileURL(path.join(dir, name)).href)) as { default?: unknown };
    registry.set(type, toDefinition(mod.default, path.join(dir, name)));
  }
  return registry;
}

function toDefinition(value: unknown, file: string): AnyTaskDefinition {
  if (typeof value === 'function') return { run: value as AnyTaskDefinition['run'] };
  if (
    value &&
    typeof value === 'object' &&
    typeof (value as AnyTaskDefinition).run === 'function'
  ) {
    const def = value as AnyTaskDefinition;
    if (def.payload !== undefined && !(def.payload instanceof z.ZodType)) {
      throw new Error(`${file}: "payload" must be a zod schema`);
    }
    return def;
  }
  throw new Error(`${file} must \`export default defineTask({ run(ctx) { … } })\``);
}

/**
 * The JSON Schema stored for a task's payload, checked by `jobdeck.enqueue()` in SQL. Uses the
 * schema's input side (what callers send, before transforms).
 */
export function payloadJsonSchema(
  def: AnyTaskDefinition,
  type: string,
): Record<string, unknown> | null {
  if (!def.payload) return null;
  const schema = z.toJSONSchema(def.payload, {
    io: 'input',
    unrepresentable: 'any',
    cycles: 'throw',
    reused: 'inline',
  });
  if (JSON.stringify(schema).includes('"$ref"')) {
    throw new Error(
      `task "${type}": its payload schema uses references, which enqueue validation does not support`,
    );
  }
  return schema as Record<string, unknown>;
}

export interface SyncDefaults {
  maxAttempts: number;
  maxPayloadBytes: number;
}

/** Registers (or updates) the task types in the database, so every enqueue path can check them. */
export async function syncTaskTypes(
  db: Kysely<Database>,
  registry: TaskRegistry,
  defaults: SyncDefaults,
): Promise<void> {
  if (registry.size === 0) return;
  const rows = [...registry].map(([type, def]) => {
    const schema = payloadJsonSchema(def, type);
    return {
      type,
      payload_schema: schema ? JSON.stringify(schema) : null,
      max_attempts: def.maxAttempts ?? defaults.maxAttempts,
      max_payload_bytes: def.maxPayloadBytes ?? defaults.maxPayloadBytes,
      description: def.description ?? null,
    };
  });
  await db
    .insertInto('jobdeck_private.task_types')
    .values(rows)
    .onConflict((oc) =>
      oc.column('type').doUpdateSet({
        payload_schema: (eb) => eb.ref('excluded.payload_schema'),
        max_attempts: (eb) => eb.ref('excluded.max_attempts'),
        max_payload_bytes: (eb) => eb.ref('excluded.max_payload_bytes'),
        description: (eb) => eb.ref('excluded.description'),
        updated_at: sql`now()`,
      }),
    )
    .execute();
}
