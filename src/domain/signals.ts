/** Unix signals by name and number, as the API accepts them ("SIGTERM" or 15). */
import { invalid } from './errors.ts';

export const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
} as const;

export type SignalName = keyof typeof SIGNALS;

/** Normalises "SIGTERM", "TERM", "15" or 15 to a signal name. */
export function parseSignal(value: unknown, field = 'signal'): SignalName {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const number = Number(value);
    const name = (Object.keys(SIGNALS) as SignalName[]).find((key) => SIGNALS[key] === number);
    if (name) return name;
  } else if (typeof value === 'string') {
    const upper = value.toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (name in SIGNALS) return name as SignalName;
  }
  throw invalid(`${field}: unknown signal ${JSON.stringify(value)}`, `use one of ${Object.keys(SIGNALS).join(', ')}`);
}

export function signalNumber(name: SignalName): number {
  return SIGNALS[name];
}
