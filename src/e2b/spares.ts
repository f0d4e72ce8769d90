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
 * A spare is a machine of the org's app marked `e2b.spare` (while forked,
 * `e2b.forking`; before it is ready, `e2b.warming`; once a create has it,
 * `e2b.claimed`): neither a sandbox nor a
 * base, so E2B's list, the reaper's ends and the proxy leave it alone. A create
 * claims one by a metadata swap that only one of two at once wins, and only while
 * the spare is started. After each create of a `--snapshot` template, its spares
 * are made up again to `e2bSpares`, in the background. A sandbox's snapshot keeps
 * none (its base is what it keeps). Deleting the template destroys them; a spare
 * that is not started, or one left warming or claimed by a process that went away,
 * is destroyed by the reaper (sweep.ts).
 */
import { destroyMachine, destroyMachineIf, execMachine } from '../control/actions.ts';
import { listMachines } from '../control/machines.ts';
import { replaceMetadataIf, writeMetadata } from '../control/metadata.ts';
import type { ControlDeps } from '../control/ports.ts';
import { waitMachine } from '../control/waiting.ts';
import { HangarError } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { SANDBOX_AGENT_PATH } from '../guest/sandbox-agent.ts';
import { forkOne } from './fork-batch.ts';
import { findTemplate, type TemplateRecord } from './records.ts';
import { isGone, isOfVersion, META, newAccessToken, templateKey, versionMark } from './sandbox-machine.ts';

/** How long a spare may take to start and run its first exec. */
const WARM_TIMEOUT_S = 60;

/**
 * The mark that makes a machine a spare of template `templateID`, warming or ready,
 * as `destroyMachineIf` takes it; none for a claimed one (it is becoming a
 * sandbox, which outlives its template) or one going.
 */
export function spareMarkOf(machine: MachineRecord, templateID: string): { key: string; value: string } | undefined {
  if (isGone(machine)) return undefined;
  const key = [META.spare, META.warming].find((mark) => machine.config.metadata?.[mark] === templateID);
  return key === undefined ? undefined : { key, value: templateID };
}

/** Whether a create may take this machine: a ready spare of the template (not of one deleted before it under its id), started. */
const isTakeable = (machine: MachineRecord, template: TemplateRecord) =>
  machine.config.metadata?.[META.spare] === template.templateID && isOfVersion(machine, template.createdAt) && machine.state === 'started';

/** A started, warmed spare of the template, now this create's (marked claimed, for the create to fill), if there is one. */
export async function takeSpare(deps: ControlDeps, appName: string, template: TemplateRecord): Promise<MachineRecord | undefined> {
  const { templateID } = template;
  const spares = (await listMachines(deps, appName, {})).map(({ machine }) => machine)
    .filter((machine) => isTakeable(machine, template))
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  for (const spare of spares) {
    try {
      await replaceMetadataIf(deps, appName, spare.id, { key: META.spare, value: templateID, started: true }, { [META.claimed]: templateID });
      return spare;
    } catch (error) {
      // Another create took it first, or it stopped or went: the next one.
      if (!(error instanceof HangarError) || !['conflict', 'not_found', 'invalid_state'].includes(error.code)) throw error;
    }
  }
  return undefined;
}

/** Spares being made, by app and template (this process's; replicas each make their own, so a cluster may hold one more per replica). */
const making = new Map<string, number>();

/** Makes up the template's spares to `e2bSpares`, in the background; failures are logged. */
export function refillSpares(deps: ControlDeps, appName: string, template: TemplateRecord, baseId: string): void {
  const wanted = deps.settings.e2bSpares;
  if (wanted <= 0) return;
  const key = templateKey(appName, template);
  void (async () => {
    const ready = (await listMachines(deps, appName, {})).filter(({ machine }) => isTakeable(machine, template)).length;
    const missing = wanted - ready - (making.get(key) ?? 0);
    for (let i = 0; i < missing; i++) {
      making.set(key, (making.get(key) ?? 0) + 1);
      void makeSpare(deps, appName, template, baseId)
        .catch((error: unknown) => deps.log.warn({ err: error, template: template.templateID }, 'e2b: a spare of a snapshot template could not be made'))
        .finally(() => {
          const left = (making.get(key) ?? 1) - 1;
          if (left > 0) making.set(key, left);
          else making.delete(key);
        });
    }
  })().catch((error: unknown) => deps.log.warn({ err: error, template: template.templateID }, 'e2b: could not count a snapshot template\'s spares'));
}

/** One spare: forked from the base (with the creates under way), started, its first exec run; destroyed if any of it fails. */
async function makeSpare(deps: ControlDeps, appName: string, template: TemplateRecord, baseId: string): Promise<void> {
  const { templateID } = template;
  const child = await forkOne(deps, appName, baseId, templateID);
  const warming = { key: META.warming, value: templateID };
  try {
    // Not yet a spare to take.
    await writeMetadata(deps, appName, child.id, 'replace', { metadata: { [META.warming]: templateID, ...versionMark(template) } });
    await waitMachine(deps, appName, child.id, { state: 'started', timeout: String(WARM_TIMEOUT_S) });
    const warmed = await execMachine(deps, appName, child.id, { command: [SANDBOX_AGENT_PATH, '-init'], stdin: JSON.stringify({ accessToken: newAccessToken() }), timeout: WARM_TIMEOUT_S });
    if (warmed.exit_code !== 0) throw new Error(`its agent did not take a token: ${warmed.stderr.trim()}`);
    // A template deleted, or deleted and made again under its id, meanwhile: this fork is of the old one's base.
    // (One deleted after this look destroys the fork, still warming: the swap below then fails.)
    if ((await findTemplate(deps.store, templateID))?.createdAt !== template.createdAt) throw new Error(`template ${templateID} was deleted`);
  } catch (error) {
    // A refused destroy leaves the warming mark, which the reaper's sweep comes back to.
    await destroyMachineIf(deps, appName, child.id, warming)
      .catch(() => destroyMachine(deps, appName, child.id, { force: true, nonce: undefined }))
      .catch(() => undefined);
    throw error;
  }
  await replaceMetadataIf(deps, appName, child.id, warming, { [META.spare]: templateID, ...versionMark(template) });
  // A delete that listed the machines between the look above and the swap missed it: the record is gone by now, and it goes.
  if ((await findTemplate(deps.store, templateID))?.createdAt !== template.createdAt) {
    await destroyMachineIf(deps, appName, child.id, { key: META.spare, value: templateID }).catch(() => undefined);
  }
}
