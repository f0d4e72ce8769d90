/**
 * What a deploy asks of hangar, as calls of its API (the Machines API, and
 * `/hangar/v1` for releases): the narrow port the deploy steps use, so that they
 * read as a deploy and not as HTTP.
 */
import { type ApiClient, ApiError } from '../client/api-client.ts';
import type { ReleaseRecordJson, ReleaseSourceJson } from './release-json.ts';

const LEASE_HEADER = 'fly-machine-lease-nonce';

/** A machine as the API shows it: what a deploy reads. */
export interface MachineJson {
  id: string;
  name: string;
  state: string;
  region: string;
  instance_id: string;
  created_at?: string;
  config: MachineConfigJson;
  checks?: Array<{ name: string; status: string; output?: string }>;
}

export type MachineConfigJson = Record<string, unknown> & {
  metadata?: Record<string, string>;
  mounts?: Array<{ volume?: string; path: string; name?: string }>;
};

export interface VolumeJson { id: string; name: string; region: string; state: string; size_gb: number; attached_machine_id: string | null }

/** A lease held by someone else: the deploy that holds it, or one that died. */
export class LeaseHeldError extends Error {}

const app = (name: string) => `/v1/apps/${encodeURIComponent(name)}`;
const machine = (name: string, id: string, suffix = '') => `${app(name)}/machines/${encodeURIComponent(id)}${suffix}`;
const releases = (name: string) => `/hangar/v1/apps/${encodeURIComponent(name)}/releases`;

export class DeployApi {
  private readonly client: ApiClient;
  readonly appName: string;

  constructor(client: ApiClient, appName: string) {
    this.client = client;
    this.appName = appName;
  }

  /** Whether the app exists; it is created (in `org`) when it does not. Answers whether it was created. */
  async ensureApp(org: string): Promise<boolean> {
    try {
      await this.client.get(app(this.appName));
      return false;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
    try {
      await this.client.post('/v1/apps', { name: this.appName, org_slug: org });
      return true;
    } catch (error) {
      // Made meanwhile (another deploy of it): it exists.
      if (error instanceof ApiError && (error.status === 409 || error.status === 422)) return false;
      throw error;
    }
  }

  listMachines(): Promise<MachineJson[]> {
    return this.client.get<MachineJson[]>(`${app(this.appName)}/machines`);
  }

  getMachine(id: string): Promise<MachineJson> {
    return this.client.get<MachineJson>(machine(this.appName, id));
  }

  createMachine(body: Record<string, unknown>): Promise<MachineJson> {
    return this.client.post<MachineJson>(`${app(this.appName)}/machines`, body);
  }

  updateMachine(id: string, body: Record<string, unknown>, nonce?: string): Promise<MachineJson> {
    return this.client.post<MachineJson>(machine(this.appName, id), body, nonce ? { [LEASE_HEADER]: nonce } : {});
  }

  async destroyMachine(id: string, nonce?: string): Promise<void> {
    await this.client.delete(machine(this.appName, id, '?force=true'), nonce ? { [LEASE_HEADER]: nonce } : {});
  }

  async setCordoned(id: string, cordoned: boolean, nonce?: string): Promise<void> {
    await this.client.post(machine(this.appName, id, cordoned ? '/cordon' : '/uncordon'), undefined, nonce ? { [LEASE_HEADER]: nonce } : {});
  }

  /** Waits up to `seconds` (at most 60 a call, as Fly's API takes) for `state`; false when it is not reached. */
  async waitFor(id: string, state: string, seconds: number, instanceId?: string): Promise<boolean> {
    const timeout = Math.max(1, Math.min(60, Math.ceil(seconds)));
    try {
      await this.client.get(machine(this.appName, id, `/wait?state=${state}&timeout=${timeout}${instanceId ? `&instance_id=${instanceId}` : ''}`));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 408) return false;
      throw error;
    }
  }

  async events(id: string): Promise<Array<{ type: string; status: string; timestamp?: number; request?: { exit_event?: { exit_code?: number } } }>> {
    return this.client.get(machine(this.appName, id, '/events'));
  }

  /** The last `n` lines of the machine's console. */
  async logTail(id: string, n: number): Promise<string[]> {
    const lines: string[] = [];
    for await (const line of this.client.lines(`/hangar${machine(this.appName, id, `/logs?tail=${n}`)}`)) lines.push(line);
    return lines;
  }

  /** Takes the machine's lease for `ttl` seconds (or renews it, given its nonce); LeaseHeldError if another holds it. */
  async lease(id: string, ttl: number, description: string, nonce?: string): Promise<string> {
    try {
      const { data } = await this.client.post<{ data: { nonce: string } }>(machine(this.appName, id, `/lease?ttl=${ttl}`), { description }, nonce ? { [LEASE_HEADER]: nonce } : {});
      return data.nonce;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) throw new LeaseHeldError(`machine ${id}: ${error.message}`);
      throw error;
    }
  }

  async releaseLease(id: string, nonce: string): Promise<void> {
    await this.client.delete(machine(this.appName, id, '/lease'), { [LEASE_HEADER]: nonce });
  }

  regions(): Promise<{ regions: Array<{ code: string }>; nearest: string }> {
    return this.client.get('/v1/platform/regions');
  }

  listVolumes(): Promise<VolumeJson[]> {
    return this.client.get<VolumeJson[]>(`${app(this.appName)}/volumes`);
  }

  createVolume(name: string, region: string | undefined, sizeGb: number): Promise<VolumeJson> {
    return this.client.post<VolumeJson>(`${app(this.appName)}/volumes`, { name, size_gb: sizeGb, ...(region ? { region } : {}) });
  }

  /** Begins a release; `leased`: this deploy holds the lease of every machine it changes (at least one). */
  beginRelease(source: ReleaseSourceJson, leased: boolean): Promise<ReleaseRecordJson> {
    return this.client.post<ReleaseRecordJson>(`${releases(this.appName)}${leased ? '?leased=true' : ''}`, source);
  }

  /** Says the release's deploy is still at work. */
  async touchRelease(version: number): Promise<void> {
    await this.client.post(`${releases(this.appName)}/${version}`, { status: 'running' });
  }

  async endRelease(version: number, status: 'complete' | 'failed' | 'interrupted', reason = ''): Promise<void> {
    await this.client.post(`${releases(this.appName)}/${version}`, { status, ...(reason ? { reason: reason.slice(0, 2000) } : {}) });
  }

  listReleases(limit = 25): Promise<{ releases: ReleaseRecordJson[] }> {
    return this.client.get(`${releases(this.appName)}?limit=${limit}`);
  }

  getRelease(version: number): Promise<ReleaseRecordJson> {
    return this.client.get(`${releases(this.appName)}/${version}`);
  }
}
