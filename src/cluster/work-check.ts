/**
 * A host agent does not run work on the word of whoever queued it: each piece is
 * checked against the machine's record first. The machine must be placed on this
 * host and be of the app the work names, every id must have its form, and a
 * volume it mounts must be its app's and live on this host. Work that fails is
 * not run (and is logged): a replica's bug, or a forged row, boots nothing. The
 * record is the one read with the work, where the store read it then.
 */
import { MACHINE_ID } from '../domain/names.ts';
import { VOLUME_ID } from '../domain/volume.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { QueuedWork, Store } from '../store/store.ts';

/** Why `work` must not run on host `hostId`, or undefined when it may. Throws when the records cannot be read. */
export type WorkCheck = (work: QueuedWork) => Promise<string | undefined>;

/** The effects that boot (or prepare to boot) the machine's VM, with what it mounts. */
const BOOTS = new Set(['prepare', 'launch', 'restart', 'replace']);

/** `onChecked` is told of each record a piece passed its check against (the agent's reports are decided on it first). */
export function workChecker(store: Pick<Store, 'getMachineById' | 'getVolume'>, hostId: string, onChecked?: (machine: MachineRecord) => void): WorkCheck {
  const check: WorkCheck = async ({ hostId: queuedFor, spec, effects, machine: readWithWork }) => {
    const id = spec.machineId;
    if (typeof id !== 'string' || !MACHINE_ID.test(id)) return `${JSON.stringify(id)} is not a machine id`;
    if (queuedFor !== hostId || (spec.hostId !== undefined && spec.hostId !== hostId)) return `the work for machine ${id} names host ${spec.hostId ?? queuedFor}, not this one`;
    const machine = readWithWork !== undefined ? readWithWork : await store.getMachineById(id);
    if (!machine) return `machine ${id} has no record`;
    if (machine.hostId !== undefined && machine.hostId !== hostId) return `machine ${id} is placed on host ${machine.hostId}, not this one`;
    if (machine.appName !== spec.appName) return `machine ${id} is of app ${machine.appName}, not ${spec.appName}`;
    // What it mounts matters to what boots it; a stop or a destroy mounts nothing.
    if (!effects.some((effect) => BOOTS.has(effect.kind))) return passed(machine);
    for (const mount of spec.config?.mounts ?? []) {
      if (typeof mount.volume !== 'string' || !VOLUME_ID.test(mount.volume)) return `machine ${id} mounts ${JSON.stringify(mount.volume)}, which is not a volume id`;
      const volume = await store.getVolume(mount.volume);
      if (!volume || volume.state === 'destroyed') return `machine ${id} mounts volume ${mount.volume}, which does not exist`;
      if (volume.appName !== machine.appName) return `machine ${id} mounts volume ${mount.volume} of app ${volume.appName}, not its own app's`;
      if (volume.hostId !== undefined && volume.hostId !== hostId) return `machine ${id} mounts volume ${mount.volume}, which lives on host ${volume.hostId}`;
    }
    return passed(machine);
  };
  const passed = (machine: MachineRecord): undefined => {
    onChecked?.(machine);
    return undefined;
  };
  return check;
}
