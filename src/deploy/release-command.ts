/**
 * `[deploy] release_command`, as flyctl runs it: once per deploy, before any
 * machine changes, in a temporary machine of the default group's config (no
 * services, checks or volume; RELEASE_COMMAND=1 in its env), whose exit code
 * decides whether the deploy goes on. The machine is destroyed either way.
 */
import type { DeployApi, MachineConfigJson } from './api.ts';
import { RELEASE_COMMAND_GROUP } from './plan.ts';

const POLL_MS = 500;

export async function runReleaseCommand(api: DeployApi, groupConfig: MachineConfigJson, words: string[], region: string | undefined, timeoutMs: number, say: (line: string) => void): Promise<void> {
  const { services: _services, checks: _checks, mounts: _mounts, ...rest } = groupConfig;
  const config = {
    ...rest,
    init: { ...(rest.init as object | undefined), cmd: words },
    env: { ...(rest.env as object | undefined), RELEASE_COMMAND: '1' },
    metadata: { ...rest.metadata, fly_process_group: RELEASE_COMMAND_GROUP },
    restart: { policy: 'no' },
  };
  const machine = await api.createMachine({ config, ...(region ? { region } : {}) });
  say(`Running the release command in machine ${machine.id}: ${words.join(' ')}`);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await api.getMachine(machine.id);
      if (now.state === 'stopped' || now.state === 'failed') break;
      if (Date.now() > deadline) throw new Error(`the release command did not end within ${timeoutMs / 1000}s (machine ${machine.id})`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const exits = (await api.events(machine.id)).filter((event) => event.type === 'exit');
    const code = exits.at(0)?.request?.exit_event?.exit_code;
    if (code !== 0) {
      const tail = await api.logTail(machine.id, 20).catch(() => []);
      for (const line of tail) say(`  ${line}`);
      throw new Error(`the release command failed${code === undefined ? '' : ` with exit code ${code}`}: the deploy stops, and no machine was changed`);
    }
    say('✔ The release command succeeded');
  } finally {
    await api.destroyMachine(machine.id).catch(() => undefined);
  }
}
