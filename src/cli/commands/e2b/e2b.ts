/**
 * `hangar e2b keys create|list|revoke` and `hangar e2b templates
 * create|list|delete`: the operator's side of the E2B front (src/e2b/).
 */
import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface KeyJson { id: string; key?: string; name: string; org: string; created_at: string }
interface TemplateJson {
  templateID: string; image: string; cpuCount: number; memoryMB: number; user?: string; workdir?: string; startCmd?: string; snapshot?: boolean;
  org?: string; name?: string; sourceSandbox?: string;
}

/** What a template is made from: an image, or (a sandbox's snapshot) that sandbox, in its org. */
const origin = (t: TemplateJson) => (t.sourceSandbox ? `snapshot of ${t.org}/${t.sourceSandbox}${t.name ? ` (${t.name})` : ''}` : t.snapshot ? 'image, forked' : 'image');

export const e2bKeysCreate: CommandSpec = {
  path: ['e2b', 'keys', 'create'],
  description: 'mint an E2B API key (E2B_API_KEY); it is shown once, and only its hash is kept',
  options: [
    { flags: '--name <name>', description: 'what the key is for', default: '' },
    { flags: '--org <slug>', description: 'the org its sandboxes belong to', default: 'personal' },
  ],
  async handler({ client, io }, _args, options) {
    const made = await client.post<KeyJson>('/hangar/v1/e2b/keys', { name: options.name, org: options.org });
    if (options.json) io.out(json(made));
    else io.out(`${made.key}\nkey ${made.id} of org ${made.org}: keep it now, it is not shown again`);
    return 0;
  },
};

export const e2bKeysList: CommandSpec = {
  path: ['e2b', 'keys', 'list'],
  description: 'list E2B API keys (their ids, never the keys)',
  async handler({ client, io }, _args, options) {
    const keys = await client.get<KeyJson[]>('/hangar/v1/e2b/keys');
    if (options.json) io.out(json(keys));
    else io.out(table(['id', 'name', 'org', 'created'], keys.map((key) => [key.id, key.name, key.org, key.created_at])));
    return 0;
  },
};

export const e2bKeysRevoke: CommandSpec = {
  path: ['e2b', 'keys', 'revoke'],
  description: 'revoke an E2B API key, by the id `keys list` shows',
  args: ['<id>'],
  async handler({ client, io }, [id]) {
    await client.delete(`/hangar/v1/e2b/keys/${encodeURIComponent(id ?? '')}`);
    io.out(`key ${id} revoked`);
    return 0;
  },
};

export const e2bTemplatesCreate: CommandSpec = {
  path: ['e2b', 'templates', 'create'],
  description: 'make any OCI image an E2B template, named <alias>',
  args: ['<alias>'],
  options: [
    { flags: '--image <ref>', description: 'the image sandboxes of the template run' },
    { flags: '--cpus <n>', description: 'CPUs of each sandbox', default: '2' },
    { flags: '--memory-mb <mb>', description: 'memory of each sandbox', default: '512' },
    { flags: '--user <name>', description: 'the user commands run as (from the image\'s /etc/passwd)' },
    { flags: '--workdir <dir>', description: 'where commands run' },
    { flags: '--start-cmd <cmd>', description: 'a command each sandbox starts with (through the shell)' },
    { flags: '--snapshot', description: 'boot the template once per org and fork each sandbox from it, instead of booting each' },
  ],
  async handler({ client, io }, [alias], options) {
    if (!options.image) {
      io.err('--image is required');
      return 2;
    }
    const made = await client.post<TemplateJson>('/hangar/v1/e2b/templates', {
      templateID: alias, image: options.image, cpuCount: Number(options.cpus), memoryMB: Number(options.memoryMb),
      ...(options.user ? { user: options.user } : {}), ...(options.workdir ? { workdir: options.workdir } : {}), ...(options.startCmd ? { startCmd: options.startCmd } : {}),
      ...(options.snapshot ? { snapshot: true } : {}),
    });
    io.out(options.json ? json(made) : `template ${made.templateID}: ${made.image}, ${made.cpuCount} CPU, ${made.memoryMB} MB${made.snapshot ? ', forked from a snapshot' : ''}`);
    return 0;
  },
};

export const e2bTemplatesList: CommandSpec = {
  path: ['e2b', 'templates', 'list'],
  description: 'list E2B templates',
  async handler({ client, io }, _args, options) {
    const templates = await client.get<TemplateJson[]>('/hangar/v1/e2b/templates');
    if (options.json) io.out(json(templates));
    else io.out(table(['template', 'image', 'cpus', 'memory', 'user', 'workdir', 'from'], templates.map((t) => [t.templateID, t.image, String(t.cpuCount), `${t.memoryMB} MB`, t.user ?? '', t.workdir ?? '', origin(t)])));
    return 0;
  },
};

export const e2bTemplatesDelete: CommandSpec = {
  path: ['e2b', 'templates', 'delete'],
  description: 'delete an E2B template (its sandboxes keep running)',
  args: ['<alias>'],
  async handler({ client, io }, [alias]) {
    await client.delete(`/hangar/v1/e2b/templates/${encodeURIComponent(alias ?? '')}`);
    io.out(`template ${alias} deleted`);
    return 0;
  },
};

export const e2bCommands = [e2bKeysCreate, e2bKeysList, e2bKeysRevoke, e2bTemplatesCreate, e2bTemplatesList, e2bTemplatesDelete];
