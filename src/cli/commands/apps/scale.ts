/** `hangar scale count|vm|memory`, as `fly scale`: how many machines each process group has, and their size. */
import type { CliContext, CommandSpec } from '../../command.ts';

const scale = async () => ({ ...await import('../../../deploy/scale.ts'), ...await import('../../../deploy/api.ts'), ...await import('../../../domain/app-config/machine-configs.ts') });
const group = { flags: '-g, --process-group <name>', description: 'the process group (count: default "app", or the only group; vm and memory: default every group)' };

function wholeNumber(text: string, what: string, least: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < least) throw new Error(`${what} is a whole number of at least ${least}, not "${text}"`);
  return value;
}

async function resize({ client, io }: CliContext, app: string, guest: Record<string, unknown>, processGroup: string | undefined): Promise<number> {
  const { scaleGuest, DeployApi } = await scale();
  await scaleGuest(new DeployApi(client, app), guest, processGroup, (line) => io.out(line));
  io.out(`✔ Machines of ${app} resized`);
  return 0;
}

export const scaleCount: CommandSpec = {
  path: ['scale', 'count'],
  description: 'make or destroy machines so that each process group has COUNT (in --region, when given)',
  args: ['<count>'],
  needsApp: true,
  options: [group, { flags: '-r, --region <code>', description: 'count and make machines in this region only' }],
  async handler({ client, io }, [count], options) {
    const { scaleCount: toCount, DeployApi } = await scale();
    await toCount(new DeployApi(client, options.app), { count: wholeNumber(count as string, 'count', 0), region: options.region, group: options.processGroup }, (line) => io.out(line));
    return 0;
  },
};

export const scaleVm: CommandSpec = {
  path: ['scale', 'vm'],
  description: 'give every machine a size (shared-cpu-1x, performance-2x, ...), restarting them one at a time',
  args: ['<size>'],
  needsApp: true,
  options: [group, { flags: '--vm-memory <mb>', description: 'memory in MB, instead of the size\'s' }],
  async handler(context, [size], options) {
    const { presetGuest } = await scale();
    const guest = { ...presetGuest(size as string, 'size'), ...(options.vmMemory ? { memory_mb: wholeNumber(options.vmMemory, '--vm-memory', 1) } : {}) };
    return resize(context, options.app, guest, options.processGroup);
  },
};

export const scaleMemory: CommandSpec = {
  path: ['scale', 'memory'],
  description: 'give every machine MB of memory, restarting them one at a time',
  args: ['<mb>'],
  needsApp: true,
  options: [group],
  handler: (context, [mb], options) => resize(context, options.app, { memory_mb: wholeNumber(mb as string, 'memory', 1) }, options.processGroup),
};
