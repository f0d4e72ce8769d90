/** What the edge proxy needs from the rest of hangar; wired in the composition root. */
import type { MachineState } from '../domain/states.ts';

/** The machine actions the proxy takes, as a user would through the API. */
export interface MachineActions {
  start(appName: string, id: string): Promise<{ previousState: MachineState }>;
  stop(appName: string, id: string): Promise<void>;
  suspend(appName: string, id: string): Promise<void>;
}

export class ProxyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}
