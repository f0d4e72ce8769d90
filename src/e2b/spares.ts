/**
 * Spare forks of a snapshot template's base: made ahead of the creates that take
 * them, started, and warmed, so that a create takes one at once.
 *
 * Warmed: a fork's QEMU is a new process, and on TCG it translates every guest
 * instruction the first time it runs it. The first exec in a fresh fork (the
 * guest kernel's exec path) took 200–260 ms here, whatever the program, and the
 * agent's token and the first command paid it in every create. A spare has run
 * that exec (an `-init` with a token of its own) before anyone waits for it.
 *
 * A spare is a machine of the org's app marked `e2b.spare` (neither a sandbox nor
 * a base: E2B's list, the reaper and the proxy leave it alone), claimed by one
 * create through a metadata swap that only one of two at once wins. After each
 * create of the template, the spares are made up again to `e2bSpares`, in the
 * background. Deleting the template destroys them with its bases.
 */
import { destroyMachine, execMachine } from '../control/actions.ts';
import { listMachines } from '../control/machines.ts';
import { replaceMetadataIf, writeMetadata } from '../control/metadata.ts';
import type { ControlDeps } from '../control/ports.ts';
import { waitMachine } from '../control/waiting.ts';
import { HangarError } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { SANDBOX_AGENT_PATH } from '../guest/sandbox-agent.ts';
import { forkOne } from './fork-batch.ts';
import { findTemplate } from './records.ts';
import { META, newAccessToken } from './sandbox-machine.ts';

/** How long a spare may take to start and run its first exec. */
const WARM_TIMEOUT_S = 60;

/** Whether a machine is a warmed spare of template `templateID`, started and not yet claimed. */
export const isSpareOf = (machine: MachineRecord, templateID: string) => machine.config.metadata?.[META.spare] === templateID && !['destroyed', 'destroying'].includes(machine.state);

/** A started, warmed spare of the template, now this create's (its metadata emptied for the create to fill), if there is one. */
export async function takeSpare(deps: ControlDeps, appName: string, templateID: string): Promise<MachineRecord | undefined> {
  const spares = (await listMachines(deps, appName, {})).map(({ machine }) => machine)
    .filter((machine) => isSpareOf(machine, templateID) && machine.state === 'started')
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  for (const spare of spares) {
    try {
      await replaceMetadataIf(deps, appName, spare.id, META.spare, templateID, {});
      return spare;
    } catch (error) {
      // Another create took it first, or it is gone: the next one.
      if (!(error instanceof HangarError) || !['conflict', 'not_found', 'invalid_state'].includes(error.code)) throw error;
    }
  }
  return undefined;
}

/** Spares being made, by app and template (this process's). */
const making = new Map<string, number>();

/** Makes up the template's spares to `e2bSpares`, in the background; failures are logged. */
export function refillSpares(deps: ControlDeps, appName: string, templateID: string, baseId: string): void {
  const wanted = deps.settings.e2bSpares;
  if (wanted <= 0) return;
  const key = `${appName}/${templateID}`;
  void (async () => {
    const ready = (await listMachines(deps, appName, {})).filter(({ machine }) => isSpareOf(machine, templateID)).length;
    const missing = wanted - ready - (making.get(key) ?? 0);
    for (let i = 0; i < missing; i++) {
      making.set(key, (making.get(key) ?? 0) + 1);
      void makeSpare(deps, appName, templateID, baseId)
        .catch((error: unknown) => deps.log.warn({ err: error, template: templateID }, 'e2b: a spare of a snapshot template could not be made'))
        .finally(() => {
          const left = (making.get(key) ?? 1) - 1;
          if (left > 0) making.set(key, left);
          else making.delete(key);
        });
    }
  })().catch((error: unknown) => deps.log.warn({ err: error, template: templateID }, 'e2b: could not count a snapshot template\'s spares'));
}

/** One spare: forked from the base (with the creates under way), started, its first exec run; destroyed if any of it fails. */
async function makeSpare(deps: ControlDeps, appName: string, templateID: string, baseId: string): Promise<void> {
  const child = await forkOne(deps, appName, baseId);
  try {
    // Until warmed it is no one's: not a base (its parent's marks), not yet a spare to take.
    await writeMetadata(deps, appName, child.id, 'replace', { metadata: {} });
    await waitMachine(deps, appName, child.id, { state: 'started', timeout: String(WARM_TIMEOUT_S) });
    const warmed = await execMachine(deps, appName, child.id, { command: [SANDBOX_AGENT_PATH, '-init'], stdin: JSON.stringify({ accessToken: newAccessToken() }), timeout: WARM_TIMEOUT_S });
    if (warmed.exit_code !== 0) throw new Error(`its agent did not take a token: ${warmed.stderr.trim()}`);
    await writeMetadata(deps, appName, child.id, 'replace', { metadata: { [META.spare]: templateID } });
    // A template deleted meanwhile took its spares with it, but not this one, not yet marked then.
    if (!(await findTemplate(deps.store, templateID))) throw new Error(`template ${templateID} was deleted`);
  } catch (error) {
    await destroyMachine(deps, appName, child.id, { force: true, nonce: undefined }).catch(() => undefined);
    throw error;
  }
}
