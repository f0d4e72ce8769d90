/**
 * Start-up reconciliation: ask the host what became of every live machine's VM
 * while hangar was down, then apply the recovery plan (reattach, record exits,
 * finish interrupted operations).
 */
import { planRecovery } from '../domain/lifecycle/recovery.ts';
import { specOf } from '../domain/runtime.ts';
import { auditStoredConfigs } from './config-audit.ts';
import { writeMachineById } from './machine-writer.ts';
import { isHostedHere, type ControlDeps } from './ports.ts';
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
  // Listed before the records are read, so a machine made meanwhile (its record first, then its files) is among them.
  const held = await agent.held();
  const unreadable = await deps.store.listUnreadableMachines();
  for (const { id, problem } of unreadable) {
    deps.log.error({ machineId: id, problem }, `machine row ${id} holds no usable machine (${problem}); it is skipped and left in the database as it is`);
  }
  const audited = await auditStoredConfigs(deps);
  const ours = new Set([...audited, ...unreadable].map(({ id }) => id));
  await discardWrittenOff(deps, agent, held.filter((id) => !ours.has(id)));
  // A machine whose stored config cannot be used is left alone (see config-audit.ts).
  const machines = audited.filter((machine) => machine.configProblem === undefined);
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

/**
 * Ends the VMs and removes the files the host holds of machines that are not its
 * own any more (none of its live machines, nor a row that cannot be read, which is
 * left alone as its machine is): destroyed (an operator wrote the host off while it
 * was away, or a destroy's report was lost), placed elsewhere, or with no record at
 * all. Each is read once more, only to say which.
 */
export async function discardWrittenOff(deps: ControlDeps, agent: LocalRuntime, notOurs: string[]): Promise<void> {
  for (const id of notOurs) {
    const machine = await deps.store.getMachineById(id);
    if (machine && machine.state !== 'destroyed' && isHostedHere(deps, machine)) continue;
    const why = !machine ? 'it has no record' : machine.state === 'destroyed' ? 'it is destroyed' : `it is placed on host ${machine.hostId ?? '(none)'}`;
    deps.log.warn({ machineId: id }, `machine ${id}: its VM is ended and its files removed from this host, as ${why}`);
    await agent.discard(id);
  }
}
