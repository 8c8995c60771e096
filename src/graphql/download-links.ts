import { context, lambda } from 'postgraphile/grafast';
import type { DownloadLinks } from '../auth/download-links.ts';
import type { Identity } from '../auth/identity.ts';

/**
 * Signs an export's `downloadUrl` in `Job.result` for the caller, as the REST contracts do
 * (src/http/job-view.ts; docs/rest.md, "Download links"): the dashboard's and any GraphQL client's
 * link then works as a plain `<a href>`. Queries, mutation payloads and subscription re-reads all
 * go through the one `Job.result` field. Anonymous callers see no jobs; for them nothing is signed.
 */
export function makeDownloadLinksPlugin(links: DownloadLinks): GraphileConfig.Plugin {
  return {
    name: 'JobdeckDownloadLinksPlugin',
    description: "Signs an export's downloadUrl in Job.result for the caller",
    version: '0.1.0',
    schema: {
      hooks: {
        GraphQLObjectType_fields_field(field, _build, { scope }) {
          const codec = (scope as { pgCodec?: { extensions?: { pg?: { name?: string } } } })
            .pgCodec;
          const attribute = (scope as { pgFieldAttribute?: unknown }).pgFieldAttribute;
          if (scope.fieldName !== 'result' || !attribute || codec?.extensions?.pg?.name !== 'jobs')
            return field;
          const plan = field.plan;
          return {
            ...field,
            plan($parent, args, info) {
              const $row = $parent as { get(name: string): unknown };
              // a plain column's field has no plan of its own: grafast reads `$parent.get(name)`
              const $result = plan ? plan($parent, args, info) : $row.get('result');
              const $id = $row.get('id');
              return lambda(
                [$result, $id, context().get('jobdeckIdentity')] as never,
                ([result, id, identity]: readonly [unknown, string, Identity | null]) =>
                  identity && id ? links.signResult(result, id, identity) : result,
                true,
              );
            },
          };
        },
      },
    },
  };
}
