/**
 * Where one request (or connection) goes, by Fly's rules: the nearest machine under
 * its soft limit (same host, then same region, then the rest), the least loaded
 * among equally near ones; when every running machine is at or over it, a machine
 * being woken that still has room, else a stopped or suspended one to wake
 * (autostart); machines over the soft limit only when there is nothing to wake;
 * never over the hard limit: then the request waits. When nothing can serve but a
 * machine is passing between states after which it could (stopping, with autostart;
 * restarting or being replaced), the request waits for it to settle. Pure.
 */
import type { MachineState } from '../../domain/states.ts';
import type { ServiceBinding } from './services.ts';

export interface RouteCandidate {
  id: string;
  state: MachineState;
  cordoned: boolean;
  /** No health check of the machine is failing or still unknown. */
  healthy: boolean;
  /** Requests or connections routed to it now, including those held for its wake. */
  load: number;
  /** A wake of this machine by the proxy is under way. */
  waking: boolean;
  binding: ServiceBinding;
  /** How far the machine is from this proxy: 0 on its host, 1 in its region, 2 elsewhere. */
  distance?: number;
}

export type Route =
  | { kind: 'forward'; id: string }
  /** Start the machine and hold the request until it answers. */
  | { kind: 'wake'; id: string }
  /** Hold the request for a wake already under way. */
  | { kind: 'join'; id: string }
  /** Every machine is at its hard limit: wait for room. */
  | { kind: 'wait' }
  /** Nothing can serve now, but a machine passing between states may once it settles: wait for a change. */
  | { kind: 'settle' }
  | { kind: 'unavailable'; reason: string };

/** States a request can wake a machine from, best first: one already starting, then a snapshot to resume. */
const WAKE_ORDER: MachineState[] = ['starting', 'suspended', 'suspending', 'stopped', 'created'];
/** Passing states that end in `started`. */
const SETTLING_RUNNING: MachineState[] = ['restarting', 'replacing'];
/** Passing states that end where a request may wake the machine (with autostart). */
const SETTLING_WAKEABLE: MachineState[] = ['creating', 'stopping', 'updating'];

/** `turn` rotates ties between equally loaded machines, so that they take turns. */
export function chooseRoute(candidates: readonly RouteCandidate[], turn = 0): Route {
  const routable = candidates.filter((c) => !c.cordoned);
  const ready = routable.filter((c) => c.state === 'started' && !c.waking && c.healthy);
  const waking = routable.filter((c) => c.waking);

  const underSoft = leastLoaded(ready.filter((c) => c.load < c.binding.concurrency.softLimit), turn);
  if (underSoft) return { kind: 'forward', id: underSoft.id };
  const wakeWithRoom = leastLoaded(waking.filter((c) => c.load < c.binding.concurrency.softLimit), turn);
  if (wakeWithRoom) return { kind: 'join', id: wakeWithRoom.id };
  const asleep = routable.filter((c) => !c.waking && c.binding.autostart && WAKE_ORDER.includes(c.state));
  asleep.sort((a, b) => WAKE_ORDER.indexOf(a.state) - WAKE_ORDER.indexOf(b.state) || (a.distance ?? 0) - (b.distance ?? 0));
  if (asleep[0]) return { kind: 'wake', id: asleep[0].id };
  const underHard = leastLoaded(ready.filter((c) => c.load < c.binding.concurrency.hardLimit), turn);
  if (underHard) return { kind: 'forward', id: underHard.id };
  const wakeUnderHard = leastLoaded(waking.filter((c) => c.load < c.binding.concurrency.hardLimit), turn);
  if (wakeUnderHard) return { kind: 'join', id: wakeUnderHard.id };
  if (ready.length > 0 || waking.length > 0) return { kind: 'wait' };
  const settling = routable.some((c) => SETTLING_RUNNING.includes(c.state) || (c.binding.autostart && SETTLING_WAKEABLE.includes(c.state)));
  if (settling) return { kind: 'settle' };
  return { kind: 'unavailable', reason: unavailableReason(candidates) };
}

function leastLoaded(machines: RouteCandidate[], turn: number): RouteCandidate | undefined {
  let best: RouteCandidate | undefined;
  const n = machines.length;
  for (let i = 0; i < n; i++) {
    const machine = machines[(i + turn) % n] as RouteCandidate;
    const nearer = (machine.distance ?? 0) - (best?.distance ?? 0);
    if (!best || nearer < 0 || (nearer === 0 && machine.load < best.load)) best = machine;
  }
  return best;
}

function unavailableReason(candidates: readonly RouteCandidate[]): string {
  if (candidates.length === 0) return 'no machine of the app serves this port';
  if (candidates.every((c) => c.cordoned)) return 'every machine serving this port is cordoned';
  if (candidates.some((c) => !c.cordoned && c.state === 'started' && !c.healthy)) return 'no machine serving this port passes its health checks';
  return 'no machine serving this port is running, and none may be started (autostart is off)';
}
