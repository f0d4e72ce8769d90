import { type CommandSpec, machinePath } from '../../command.ts';
import { json, table } from '../../output.ts';

const keyPath = (app: string, id: string, key = '') => machinePath(app, id, `/metadata${key ? `/${encodeURIComponent(key)}` : ''}`);

export const machineMetadata: CommandSpec[] = [
  {
    path: ['machine', 'metadata', 'list'],
    description: 'list a machine\'s metadata',
    args: ['<id>'],
    needsApp: true,
    async handler({ client, io }, [id], options) {
      const metadata = await client.get<Record<string, string>>(keyPath(options.app, id as string));
      io.out(options.json ? json(metadata) : table(['key', 'value'], Object.entries(metadata)));
      return 0;
    },
  },
  {
    path: ['machine', 'metadata', 'get'],
    description: 'print one metadata value',
    args: ['<id>', '<key>'],
    needsApp: true,
    async handler({ client, io }, [id, key], options) {
      const { value } = await client.get<{ value: string }>(keyPath(options.app, id as string, key));
      io.out(value);
      return 0;
    },
  },
  {
    path: ['machine', 'metadata', 'set'],
    description: 'set one metadata key',
    args: ['<id>', '<key>', '<value>'],
    needsApp: true,
    async handler({ client, io }, [id, key, value], options) {
      await client.post(keyPath(options.app, id as string, key), { value });
      io.out(`Set ${key} on machine ${id}`);
      return 0;
    },
  },
  {
    path: ['machine', 'metadata', 'delete'],
    description: 'delete one metadata key',
    args: ['<id>', '<key>'],
    needsApp: true,
    async handler({ client, io }, [id, key], options) {
      await client.delete(keyPath(options.app, id as string, key));
      io.out(`Deleted ${key} from machine ${id}`);
      return 0;
    },
  },
];
