/**
 * What a process with a host (roles all and host) does while it holds it: recover
 * its machines, then drain its outbox into its agent. One session of work per
 * registration: a new epoch starts a new drain, after recovery.
 */
import type { Logger } from 'pino';
import type { HostAgent } from '../agent/host-agent.ts';
import type { StopServing } from '../cluster/host-session.ts';
import { WorkDrain } from '../cluster/work-loop.ts';
import { workChecker } from '../cluster/work-check.ts';
import type { ControlDeps } from '../control/ports.ts';
import { recoverMachines } from '../control/recovery.ts';
import type { HostRecord } from '../domain/host.ts';
import type { ObservationSink } from '../domain/runtime.ts';

export interface HostWork {
  /** Recovers the host's machines at `host.epoch`, then drains its work; answers what ends the drain. */
  serve(host: HostRecord): Promise<StopServing>;
  /** Resolves once no work is queued, read or running (tests, shutdown). */
  idle(): Promise<void>;
}

export function hostWork(control: ControlDeps, agent: HostAgent, sink: ObservationSink, log: Logger, hints?: (hostId: string, kick: () => void) => () => void): HostWork {
  let drain: WorkDrain | undefined;
  control.workQueued = (hostId) => {
    if (hostId === drain?.hostId) drain.kick();
  };
  return {
    async serve(host) {
      const recovered = await recoverMachines(control, agent, sink);
      if (recovered.checked > 0) log.info({ checked: recovered.checked, running: recovered.running }, `recovered ${recovered.checked} machines (${recovered.running} running)`);
      // Work committed before recovery read a machine is what recovery finished itself.
      const current = new WorkDrain(control.store, { hostId: host.id, epoch: host.epoch }, agent, log, {
        recovered: recovered.revs, check: workChecker(control.store, host.id, (machine) => control.known?.remember(machine)),
      });
      drain = current;
      const unhint = hints?.(host.id, () => current.kick());
      current.start();
      return async () => {
        unhint?.();
        await current.stop();
        if (drain === current) drain = undefined;
      };
    },
    async idle() {
      do {
        await drain?.idle();
        await agent.idle();
      } while (drain?.busy());
    },
  };
}
