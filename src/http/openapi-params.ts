/** Parameter descriptions of /openapi.json, shared by src/http/openapi.ts and each contract's operations. */

/** A UUID path parameter (`{id}`, `{job_id}`). */
export const uuidPathParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
});

/** An optional query parameter. */
export const queryParam = (name: string, schema: unknown, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  description,
});
