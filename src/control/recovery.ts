/**
 * Start-up reconciliation: ask the host what became of every live machine's VM
 * while hangar was down, then apply the recovery plan (reattach, record exits,
 * finish interrupted operations).
 */
import { planRecovery } from '../domain/lifecycle/recovery.ts';
import { specOf } from '../domain/runtime.ts';
import { auditStoredConfigs } from './config-audit.ts';
import { writeMachineById } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import type { LocalRuntime, ObservationSink } from '../domain/runtime.ts';

export interface Recovered {
  checked: number;
  running: number;
  /** The revision at which each machine recovery finished was read. */
  revs: Map<string, number>;
}

/**
 * Recovers this host's machines on `agent`: its reports go to `sink`, and what is
 * to be finished goes straight to the agent (it is the host's own reading of
 * states already committed, not a new decision). It waits for the agent to finish
 * the work it holds first, however long that takes (a prepare pulling an image).
 */
export async function recoverMachines(deps: ControlDeps, agent: LocalRuntime, sink: ObservationSink): Promise<Recovered> {
  // Work a previous session of the host took runs on in the agent (and reports what it did): a
  // machine and its VM are read once it has run, not while a suspend or a boot is half done.
  await agent.idle();
  for (const { id, problem } of await deps.store.listUnreadableMachines()) {
    deps.log.error({ machineId: id, problem }, `machine row ${id} holds no usable machine (${problem}); it is skipped and left in the database as it is`);
  }
  // A machine whose stored config cannot be used is left alone (see config-audit.ts).
  const machines = (await auditStoredConfigs(deps)).filter((machine) => machine.configProblem === undefined);
  const found = await agent.recover(machines.map(specOf));
  let running = 0;
  for (const machine of machines) {
    const vm = found.get(machine.id) ?? { vm: 'absent' };
    if (vm.vm === 'running') running++;
    const plan = planRecovery(machine, vm);
    deps.log.info({ machineId: machine.id, state: machine.state, ...vm, plan: plan.observation?.kind ?? plan.effects.map((e) => e.kind) }, 'recovery');
    if (plan.snapshotLost) {
      await writeMachineById(deps, machine.id, (current, ctx) => ({ machine: { ...current, hasSnapshot: false, updatedAt: ctx.now }, events: [], effects: [] }));
    }
    if (plan.observation) await sink.observe(machine.id, plan.observation);
    if (plan.effects.length > 0) void agent.submit(specOf(machine), plan.effects);
  }
  return { checked: machines.length, running, revs: new Map(machines.map((machine) => [machine.id, machine.rev])) };
}
