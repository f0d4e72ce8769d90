/**
 * The leases a deploy holds on the machines it changes, as flyctl holds them: all
 * taken before anything changes (so a second deploy of the app gets a clear error
 * and changes nothing), renewed while the deploy runs, and given back at its end.
 * A deploy that dies holds them only until they lapse.
 */
import { type DeployApi, LeaseHeldError } from './api.ts';

export const LEASE_TTL_S = 30;
const RENEW_MS = 10_000;

export class DeployLeases {
  private readonly api: DeployApi;
  private readonly nonces = new Map<string, string>();
  private renewing: NodeJS.Timeout | undefined;
  /** The renewal under way, which giveBack waits for: none may take a lease after the deploy gave them back. */
  private renewal: Promise<void> = Promise.resolve();
  private renewFailure: Error | undefined;

  private constructor(api: DeployApi) {
    this.api = api;
  }

  /** Every machine's lease, or none: a machine another holds gives back those taken and throws LeaseHeldError. */
  static async take(api: DeployApi, machineIds: readonly string[], description: string): Promise<DeployLeases> {
    const leases = new DeployLeases(api);
    try {
      for (const id of machineIds) leases.nonces.set(id, await api.lease(id, LEASE_TTL_S, description));
    } catch (error) {
      await leases.giveBack();
      if (error instanceof LeaseHeldError) {
        throw new LeaseHeldError(`another deploy (or another change) holds a lease on ${error.message.replace(/^machine /, 'machine ')}; `
          + 'wait for it to end, or for its lease to lapse (30 s after a deploy died)');
      }
      throw error;
    }
    leases.renewing = setInterval(() => {
      leases.renewal = leases.renewal.then(() => leases.renew());
    }, RENEW_MS);
    leases.renewing.unref();
    return leases;
  }

  nonce(id: string): string | undefined {
    return this.nonces.get(id);
  }

  /** The error a renewal met, if one did: the deploy stops rather than change machines it may no longer hold. */
  check(): void {
    if (this.renewFailure) throw this.renewFailure;
  }

  forget(id: string): void {
    this.nonces.delete(id);
  }

  async giveBack(): Promise<void> {
    clearInterval(this.renewing);
    await this.renewal;
    await Promise.all([...this.nonces].map(([id, nonce]) => this.api.releaseLease(id, nonce).catch(() => undefined)));
    this.nonces.clear();
  }

  /**
   * Renews each lease. A lease that lapsed in between comes back as a new one (a new
   * nonce): someone could have changed the machine meanwhile, so the deploy counts it
   * lost, and gives the new lease back.
   */
  private async renew(): Promise<void> {
    for (const [id, nonce] of this.nonces) {
      try {
        const renewed = await this.api.lease(id, LEASE_TTL_S, 'hangar deploy', nonce);
        if (renewed !== nonce) {
          await this.api.releaseLease(id, renewed).catch(() => undefined);
          throw new Error('it lapsed before it was renewed');
        }
      } catch (error) {
        this.renewFailure ??= new Error(`the deploy lost its lease on machine ${id}: ${(error as Error).message}`);
      }
    }
  }
}
