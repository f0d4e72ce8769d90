/**
 * Machine states and the transitions between them.
 *
 *                 create
 *                   |
 *                   v
 *   launch_failed <- creating --(skip_launch)--> created
 *        |             |                            |
 *        v             +-------> starting <---------+ start
 *    destroyed                   |   ^   \
 *                        running |   |    '--(boot fails)--> failed
 *                                v   |                         |
 *          restarting <-------> started ----suspend----> suspending
 *                                 | | \                        |
 *                   update(running) |  stop       start cancels v
 *                       |           |   \                  suspended
 *                       v           |    v                     |
 *                   replacing       |  stopping --> stopped <--+ stop
 *                       |           |                 |        |
 *                       '--> started|      update(not running) | start (resume)
 *                                   |                 v        v
 *                                 exit            updating   starting
 *
 *   any non-terminal state --destroy--> destroying --> destroyed
 *   starting --(a resume refused before it used the snapshot)--> suspended
 *
 * Persistent: created started stopped suspended failed.
 * Transient: creating starting stopping restarting suspending destroying
 *            launch_failed updating replacing.
 * Terminal: destroyed replaced migrated (replaced only ever describes an old version).
 */

export const PERSISTENT_STATES = ['created', 'started', 'stopped', 'suspended', 'failed'] as const;
export const TRANSIENT_STATES = [
  'creating', 'starting', 'stopping', 'restarting', 'suspending',
  'destroying', 'launch_failed', 'updating', 'replacing',
] as const;
export const TERMINAL_STATES = ['destroyed', 'replaced', 'migrated'] as const;

export type PersistentState = (typeof PERSISTENT_STATES)[number];
export type TransientState = (typeof TRANSIENT_STATES)[number];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export type MachineState = PersistentState | TransientState | TerminalState;

export const ALL_STATES: readonly MachineState[] = [...PERSISTENT_STATES, ...TRANSIENT_STATES, ...TERMINAL_STATES];

/**
 * Every state a machine may move to from each state. Adding a state fails to
 * compile until its row is written. A move not listed here is a bug in the caller.
 */
export const TRANSITIONS: Record<MachineState, readonly MachineState[]> = {
  creating: ['created', 'starting', 'launch_failed', 'destroying'],
  created: ['starting', 'updating', 'destroying'],
  // suspended: a resume refused before it touched the snapshot (no disk space for the RAM) keeps it.
  starting: ['started', 'stopping', 'failed', 'stopped', 'suspended', 'destroying'],
  started: ['stopping', 'restarting', 'suspending', 'replacing', 'stopped', 'destroying', 'failed'],
  stopping: ['stopped', 'failed', 'destroying'],
  stopped: ['starting', 'updating', 'destroying'],
  restarting: ['started', 'stopping', 'failed', 'stopped', 'destroying'],
  suspending: ['suspended', 'started', 'starting', 'stopped', 'destroying'],
  suspended: ['starting', 'stopped', 'updating', 'destroying'],
  failed: ['starting', 'stopped', 'updating', 'destroying'],
  updating: ['created', 'stopped', 'starting', 'failed', 'destroying'],
  replacing: ['started', 'failed', 'stopped', 'destroying'],
  launch_failed: ['destroyed'],
  destroying: ['destroyed'],
  destroyed: [],
  replaced: [],
  migrated: [],
};

/** The things a user asks of a machine that change its state. */
export type UserAction = 'start' | 'stop' | 'restart' | 'suspend' | 'update' | 'destroy';

/**
 * For each state, the actions a user may take and the state each one leads to.
 * An action missing from a row is refused with an error naming the current state.
 * `destroy` of a running machine is listed but still needs `force` (see lifecycle).
 */
export const ACTIONS: Record<MachineState, Partial<Record<UserAction, MachineState>>> = {
  creating: { destroy: 'destroying' },
  created: { start: 'starting', update: 'updating', destroy: 'destroying' },
  starting: { stop: 'stopping', destroy: 'destroying' },
  started: { stop: 'stopping', restart: 'restarting', suspend: 'suspending', update: 'replacing', destroy: 'destroying' },
  stopping: { destroy: 'destroying' },
  stopped: { start: 'starting', update: 'updating', destroy: 'destroying' },
  restarting: { stop: 'stopping', destroy: 'destroying' },
  suspending: { start: 'starting', destroy: 'destroying' },
  suspended: { start: 'starting', stop: 'stopped', update: 'updating', destroy: 'destroying' },
  failed: { start: 'starting', stop: 'stopped', restart: 'starting', update: 'updating', destroy: 'destroying' },
  updating: { destroy: 'destroying' },
  replacing: { destroy: 'destroying' },
  launch_failed: {},
  destroying: {},
  destroyed: {},
  replaced: {},
  migrated: {},
};

/** States in which the machine's VM may be running and needs `force` to destroy. */
export const RUNNING_STATES: readonly MachineState[] = ['started', 'starting', 'restarting', 'stopping', 'suspending', 'replacing'];

export function isTransient(state: MachineState): state is TransientState {
  return (TRANSIENT_STATES as readonly string[]).includes(state);
}

export function canTransition(from: MachineState, to: MachineState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function allowedActions(state: MachineState): UserAction[] {
  return Object.keys(ACTIONS[state]) as UserAction[];
}

/** How long a machine may sit in a transient state before it counts as wedged (Fly's thresholds). */
export const WEDGED_AFTER_MS: Partial<Record<TransientState, number>> = {
  starting: 5 * 60_000,
  stopping: 5 * 60_000,
  restarting: 5 * 60_000,
  destroying: 5 * 60_000,
  suspending: 5 * 60_000,
  updating: 10 * 60_000,
  replacing: 10 * 60_000,
};
