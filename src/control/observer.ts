/** Where the host agent's reports land: each becomes a lifecycle decision, committed like any other. */
import type { Logger } from 'pino';
import { withoutHostPaths } from '../domain/host-paths.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import { decideObservation, type Observation } from '../domain/lifecycle/observations.ts';
import type { ObservationSink } from '../domain/runtime.ts';
import { writeMachineById } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import { releaseVolumes, volumesLetGo } from './volumes.ts';

export class ControlObserver implements ObservationSink {
  private readonly deps: () => ControlDeps;
  private readonly log: Logger;

  /** `deps` is a thunk because the host agent and the control plane are built around each other. */
  constructor(deps: () => ControlDeps, log: Logger) {
    this.deps = deps;
    this.log = log;
  }

  async observe(machineId: string, reported: Observation): Promise<void> {
    const observation = publicObservation(reported);
    const deps = this.deps();
    const { before, after } = await writeMachineById(deps, machineId, (machine, ctx) => decideObservation(machine, observation, ctx));
    // A cluster host's (the fence names it) says which images it holds, for placement.
    const image = heldImage(observation);
    if (image && deps.fence && deps.store.holdImage) {
      await deps.store.holdImage(deps.fence, image).catch((error: unknown) => this.log.warn({ err: error, machineId }, `machine ${machineId}: could not record that this host holds its image`));
    }
    // A machine committed as destroyed has let go of its volumes in the same write (see Store.commit).
    if (before.state !== after.state) {
      this.log.info({ machineId, from: before.state, to: after.state, observation: observation.kind }, `machine ${machineId}: ${before.state} -> ${after.state}`);
    }
    // A replacement settled (the new version runs, or the old one came back): a volume neither mounts is free.
    if (volumesLetGo(before, after)) {
      await releaseVolumes(deps, after).catch((error: unknown) => this.log.warn({ err: error, machineId }, `machine ${machineId}: could not let go of the volumes it no longer mounts`));
    }
  }
}

/** The image a report says this host holds now, resolved to its digest. */
function heldImage(observation: Observation): ImageRef | undefined {
  const image = observation.kind === 'prepared' || observation.kind === 'running' ? observation.imageRef : undefined;
  return image?.digest ? image : undefined;
}

/** The observation with the host's paths taken out of every text that becomes part of an event. */
function publicObservation(observation: Observation): Observation {
  const text = (value: string | undefined) => (value === undefined ? undefined : withoutHostPaths(value));
  switch (observation.kind) {
    case 'prepare_failed':
    case 'launch_failed':
    case 'suspend_failed':
      return { ...observation, reason: withoutHostPaths(observation.reason) };
    case 'running':
      return observation.coldBootReason === undefined ? observation : { ...observation, coldBootReason: text(observation.coldBootReason) };
    default:
      return observation;
  }
}
