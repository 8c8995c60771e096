import type { Config } from '../config.ts';
import type { JobTemplate } from '../jobs/templates.ts';
import { withClient } from './job-commands.ts';
import type { TemplateCommandLine } from './template-line.ts';

function describe(template: JobTemplate): string {
  const parts = [
    `type ${template.type}`,
    template.priority !== null ? `priority ${template.priority}` : null,
    template.queue !== null ? `queue ${template.queue}` : null,
    template.maxAttempts !== null ? `max attempts ${template.maxAttempts}` : null,
    template.orgId !== null ? `org ${template.orgId}` : 'every org',
    `defaults ${JSON.stringify(template.payloadDefaults)}`,
  ].filter(Boolean);
  return `${template.name}: ${parts.join(', ')}${template.description ? ` — ${template.description}` : ''}`;
}

/** `jobdeck template set <name> --type t …`, `template list`, `template delete <name>`. */
export async function runTemplateCommand(
  config: Config,
  command: TemplateCommandLine,
): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (command.action === 'set') {
    const template = await withClient(config, (jobdeck) =>
      jobdeck.defineTemplate(command.name, command.definition),
    );
    out(command.json ? JSON.stringify(template) : `saved template ${describe(template)}`);
    return 0;
  }
  if (command.action === 'delete') {
    const deleted = await withClient(config, (jobdeck) => jobdeck.deleteTemplate(command.name));
    if (command.json) out(JSON.stringify({ name: command.name, deleted }));
    else out(deleted ? `deleted template ${command.name}` : `no template ${command.name}`);
    return deleted ? 0 : 1;
  }
  const templates = await withClient(config, (jobdeck) =>
    jobdeck.templates(command.orgId !== undefined ? { orgId: command.orgId } : {}),
  );
  if (command.json) out(JSON.stringify(templates));
  else if (templates.length === 0) out('no templates');
  else for (const template of templates) out(describe(template));
  return 0;
}
