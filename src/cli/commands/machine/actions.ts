/** The one-call machine commands: start, stop, suspend, restart, kill, cordon, uncordon. */
import { type CommandSpec, machinePath, type Options } from '../../command.ts';

interface Action {
  verb: string;
  description: string;
  request(options: Options): { suffix: string; body?: unknown };
  done: string;
  options?: CommandSpec['options'];
}

const ACTIONS: Action[] = [
  { verb: 'start', description: 'start a stopped machine, or resume a suspended one', request: () => ({ suffix: '/start' }), done: 'started' },
  {
    verb: 'stop',
    description: 'stop a machine (a suspended one loses its snapshot)',
    options: [
      { flags: '-s, --signal <signal>', description: 'signal to send first (default: the config\'s stop signal, else SIGINT)' },
      { flags: '--timeout <duration>', description: 'wait this long before SIGKILL, e.g. 10s' },
    ],
    request: (o) => ({ suffix: '/stop', body: { signal: o.signal, timeout: o.timeout } }),
    done: 'stopping',
  },
  { verb: 'suspend', description: 'suspend a machine: save it, memory included, and free its CPU', request: () => ({ suffix: '/suspend' }), done: 'suspending' },
  {
    verb: 'restart',
    description: 'restart a machine',
    options: [{ flags: '-s, --signal <signal>', description: 'stop signal' }, { flags: '--timeout <duration>', description: 'grace period before SIGKILL' }],
    request: (o) => {
      const query = new URLSearchParams();
      if (o.signal) query.set('signal', o.signal);
      if (o.timeout) query.set('timeout', o.timeout);
      return { suffix: `/restart${query.size ? `?${query}` : ''}` };
    },
    done: 'restarting',
  },
  { verb: 'kill', description: 'send SIGKILL to a machine\'s main process', request: () => ({ suffix: '/signal', body: { signal: 'SIGKILL' } }), done: 'killed' },
  { verb: 'cordon', description: 'route no proxy traffic to a machine', request: () => ({ suffix: '/cordon' }), done: 'cordoned' },
  { verb: 'uncordon', description: 'route proxy traffic to a machine again', request: () => ({ suffix: '/uncordon' }), done: 'uncordoned' },
];

export const machineActions: CommandSpec[] = ACTIONS.map((action) => ({
  path: ['machine', action.verb],
  description: action.description,
  args: ['<id...>'],
  needsApp: true,
  options: [...(action.options ?? []), { flags: '--lease-nonce <nonce>', description: 'the lease nonce, if the machine is leased' }],
  async handler({ client, io }, ids, options) {
    const headers: Record<string, string> = options.leaseNonce ? { 'fly-machine-lease-nonce': options.leaseNonce } : {};
    for (const id of ids) {
      const { suffix, body } = action.request(options);
      await client.post(machinePath(options.app, id, suffix), body, headers);
      io.out(`Machine ${id} ${action.done}`);
    }
    return 0;
  },
}));
