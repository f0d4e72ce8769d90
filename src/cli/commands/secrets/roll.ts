/**
 * Applying secrets to an app's machines, as `fly secrets deploy` does: each started
 * machine restarted in turn, the next only once the last runs again, so the app
 * keeps serving. Stopped machines take them at their next start. Suspended ones
 * resume with the memory they had: they take them only at their next boot, and are
 * named so that their owner can stop them.
 */
import type { CliContext } from '../../command.ts';
import { machinePath } from '../../command.ts';

interface MachineJson { id: string; state: string; region: string }

export async function rollSecrets({ client, io }: CliContext, app: string): Promise<number> {
  const machines = await client.get<MachineJson[]>(machinePath(app));
  const started = machines.filter((m) => m.state === 'started');
  const suspended = machines.filter((m) => m.state === 'suspended');
  for (const [index, machine] of started.entries()) {
    io.out(`Restarting machine ${machine.id} [${index + 1}/${started.length}]`);
    await client.post(machinePath(app, machine.id, '/restart'), undefined);
    await client.get(machinePath(app, machine.id, '/wait?state=started&timeout=60'));
  }
  io.out(started.length === 0 ? 'No started machines to restart' : `${started.length} machine(s) restarted with the app's secrets`);
  if (suspended.length > 0) {
    io.out(`${suspended.length} suspended machine(s) keep the values they booted with until they boot again `
      + `(\`hangar machine stop\` them to apply the secrets at their next start): ${suspended.map((m) => m.id).join(', ')}`);
  }
  return 0;
}
