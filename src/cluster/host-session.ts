/**
 * A host agent's hold on its host. It registers (refused while another instance
 * holds the host and was heard from lately, unless it takes over), writes the
 * heartbeat, and serves the host (recovery, then its work and its agent API) only
 * while it holds it. A heartbeat refused means the host was taken from this
 * instance: declared lost by a replica, forgotten by an operator, or taken over by
 * another instance. Serving stops at once (no more work taken, the agent API
 * closed); then the session registers again at every heartbeat, and serves again
 * (recovery first) once the host is its own again.
 *
 * The heartbeat runs from the registration on, while recovery runs too: a host
 * whose recovery takes longer than --host-lost-after (many VMs, a slow disk) is
 * not declared lost for it.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import type { HostIdentity, HostRecord } from '../domain/host.ts';
import type { Store } from '../store/store.ts';
import { HostRefusedError } from '../store/errors.ts';

/** Ends what `serve` started. */
export type StopServing = () => Promise<void>;

export interface HostSessionOptions {
  store: Pick<Store, 'registerHost' | 'heartbeatHost'>;
  identity: HostIdentity;
  /** Register even while another instance holds the host (its server was replaced). Only at the first registration. */
  takeOver: boolean;
  heartbeatMs: number;
  /** A holder heard from within this long is alive. */
  freshMs: number;
  log: Logger;
  /** Serves the host as registered (at `host.epoch`); answers what ends it. */
  serve(host: HostRecord): Promise<StopServing>;
  /** Another instance holds the host now: what this one still runs is not its own any more. */
  onTakenOver(holder: string): Promise<void>;
}

export class HostSession {
  private readonly options: HostSessionOptions;
  private host: HostRecord | undefined;
  /** Whether this instance holds `host` (registered, and no heartbeat refused since). */
  private held = false;
  /** The serve of the last registration, while under way. */
  private starting: Promise<void> | undefined;
  private stopServing: StopServing | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private takenOverBy: string | undefined;
  private refusal: string | undefined;
  private stopped = false;

  constructor(options: HostSessionOptions) {
    this.options = options;
  }

  /** The host as last registered by this instance. */
  get record(): HostRecord | undefined {
    return this.host;
  }

  /** Whether this instance holds the host and serves it now. */
  get serving(): boolean {
    return this.stopServing !== undefined;
  }

  /** Registers and serves; throws (HostRefusedError among others) when the host cannot be held. */
  async start(): Promise<HostRecord> {
    const host = await this.options.store.registerHost(this.options.identity, { takeOver: this.options.takeOver, freshMs: this.options.freshMs });
    this.hold(host);
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => { this.ticking = undefined; });
    }, this.options.heartbeatMs);
    this.timer.unref();
    this.starting = this.serve(host);
    try {
      await this.starting;
    } catch (error) {
      this.held = false;
      clearInterval(this.timer);
      await this.ticking;
      throw error;
    } finally {
      this.starting = undefined;
    }
    return host;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    await this.starting?.catch(() => undefined);
    await this.end();
  }

  private hold(host: HostRecord): void {
    this.host = host;
    this.held = true;
  }

  /** Serves `host`; what it started is ended at once if the host was lost (or the session stopped) meanwhile. */
  private async serve(host: HostRecord): Promise<void> {
    const stop = await this.options.serve(host);
    if (this.host !== host || !this.held || this.stopped) {
      await stop();
      return;
    }
    this.stopServing = stop;
    this.takenOverBy = undefined;
    this.refusal = undefined;
  }

  private async end(): Promise<void> {
    const stop = this.stopServing;
    this.stopServing = undefined;
    await stop?.();
  }

  private async tick(): Promise<void> {
    const { store, log, identity } = this.options;
    try {
      if (this.held && this.host) {
        if (await store.heartbeatHost(this.host.id, this.host.epoch)) return;
        log.error({ hostId: identity.id, epoch: this.host.epoch }, `host ${identity.id} is no longer held by this instance (declared lost, forgotten or taken over): `
          + 'it stops taking work and closes its agent API, then registers again');
        this.held = false;
        await this.end();
      }
      // A serve of an earlier registration still under way ends itself (see serve); register after it.
      if (this.stopped || this.starting) return;
      const host = await store.registerHost(identity, { takeOver: false, freshMs: this.options.freshMs });
      log.warn({ hostId: host.id, epoch: host.epoch }, `host ${host.id} registered again (epoch ${host.epoch}): recovering, then serving`);
      this.hold(host);
      this.starting = this.serve(host).catch(async (error: unknown) => {
        this.held = false;
        await this.refused(error);
      }).finally(() => { this.starting = undefined; });
    } catch (error) {
      await this.refused(error);
    }
  }

  private async refused(error: unknown): Promise<void> {
    const { log, identity } = this.options;
    if (error instanceof HostRefusedError && error.reason === 'held' && error.holder) {
      if (this.takenOverBy === error.holder.instanceId) return;
      this.takenOverBy = error.holder.instanceId;
      log.error({ hostId: identity.id, holder: error.holder.instanceId },
        `host ${identity.id} was taken over by instance ${error.holder.instanceId}: this instance ends its VMs, so that no machine runs twice, and waits`);
      await this.options.onTakenOver(error.holder.instanceId).catch((cause: unknown) => log.error({ err: cause }, 'ending the VMs of a host taken over failed'));
      return;
    }
    const message = errorMessage(error);
    if (this.refusal === message) return;
    this.refusal = message;
    log.warn({ hostId: identity.id, err: error }, `host ${identity.id}: could not ${this.serving ? 'write the heartbeat' : 'register again'}; trying again`);
  }
}
