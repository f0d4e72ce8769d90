/** Releases as the API sends them (api/routes/releases.ts). */
import type { FlyToml, Strategy } from '../domain/app-config/fly-toml-schema.ts';

export interface ReleaseSourceJson {
  image: string;
  strategy: Strategy;
  config: FlyToml;
  files: Record<string, string>;
  description: string;
}

export interface ReleaseRecordJson extends ReleaseSourceJson {
  id: string;
  version: number;
  status: 'running' | 'complete' | 'failed' | 'interrupted';
  reason: string;
  config_digest: string;
  created_at: string;
  updated_at: string;
}
