import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';

interface ExecJson { stdout: string; stderr: string; exit_code: number; exit_signal: number }

export const machineExec: CommandSpec = {
  path: ['machine', 'exec'],
  description: 'run a command in a machine and print its output; exits with its exit code',
  args: ['<id>', '<command...>'],
  needsApp: true,
  options: [{ flags: '--timeout <seconds>', description: 'give up after this many seconds', default: '30' }],
  async handler({ client, io }, [id, ...command], options) {
    const result = await client.post<ExecJson>(machinePath(options.app, id, '/exec'), { command, timeout: Number(options.timeout) });
    if (options.json) {
      io.out(json(result));
      return 0;
    }
    if (result.stdout) io.out(result.stdout.replace(/\n$/, ''));
    if (result.stderr) io.err(result.stderr.replace(/\n$/, ''));
    return result.exit_code;
  },
};
