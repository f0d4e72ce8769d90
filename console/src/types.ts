/** What the console reads from the API. */
export interface WatchedMachine {
  id: string;
  name: string;
  state: string;
  region: string;
  host_id: string | null;
  cordoned: boolean;
  image: string;
  process_group: string | null;
  release: string | null;
  updated_at: string;
  created_at: string;
  /** In a snapshot: the states its recent events entered, and when (ms). */
  history?: Array<{ state: string; at: number }>;
}

export interface AppJson { name: string; status: string; machine_count: number; organization: { slug: string } }
export interface EventJson { id: string; type: string; status: string; source: string; timestamp: number; request?: Record<string, unknown> }
export interface ReleaseJson { version: number; status: string; strategy: string; image: string; description: string; reason: string; created_at: string }
export interface SecretJson { name: string; digest: string; updated_at: string }
export interface HostJson {
  id: string; region: string; status: string; machines: number;
  capacity: { cpus: number | null; memory_mb: number | null };
  reserved: { cpus: number; memory_mb: number };
}
