/** The real clock. */
import type { Clock } from '../control/ports.ts';

export const systemClock: Clock = { now: () => Date.now() };
