/** What the edge proxy needs from the rest of hangar; wired in the composition root. */
import type { SecureContext } from 'node:tls';
import type { MachineState } from '../domain/states.ts';

export type { ProxyMachine } from '../domain/ports.ts';


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

/** The certificates TLS listeners present. */
export interface ServerCertificates {
  /** PEM certificate and key for clients that name no server, or a name the proxy does not serve. */
  fallback: { cert: Buffer; key: Buffer };
  contextFor(serverName: string | undefined): Promise<SecureContext>;
}

/** What a TLS listener is built from: the fallback certificate and a server name's certificate. */
export interface TlsTermination {
  fallback: SecureContext;
  SNICallback: (serverName: string, done: (error: Error | null, context?: SecureContext) => void) => void;
}
