/**
 * The per-machine part of the initramfs: `/hangar/config`, read by hangar-init
 * (format in init/protocol.md). Pure: the same input gives the same bytes.
 */
import { type CpioEntry, cpioArchive } from './cpio.ts';

export interface InitConfig {
  hostname: string;
  rootDevice: string;
  mounts: Array<{ device: string; path: string }>;
  net?: { ifname: string; ipv6?: string; gateway6?: string; ipv4?: string; gateway4?: string };
  env: Record<string, string>;
  argv: string[];
  workdir?: string;
  user?: string;
  files: Array<{ path: string; mode: number; content: Buffer }>;
  /** Files the initramfs carries (`source`), copied into the root at `path`. */
  installs?: Array<{ source: string; path: string; mode: number }>;
  stop: { signal: number; timeoutMs: number };
}

/** Empty values travel as `-` (see init/protocol.md). */
const b64 = (value: string | Buffer) => (value.length === 0 ? '-' : Buffer.from(value).toString('base64'));

export function initConfigText(config: InitConfig): string {
  const lines = [`hostname ${b64(config.hostname)}`, `root ${config.rootDevice}`];
  for (const mount of config.mounts) lines.push(`mount ${mount.device} ${b64(mount.path)}`);
  if (config.net) {
    const { ifname, ipv6, gateway6, ipv4, gateway4 } = config.net;
    lines.push(`net ${ifname} ${ipv6 ?? '-'} ${gateway6 ?? '-'} ${ipv4 ?? '-'} ${gateway4 ?? '-'}`);
  }
  for (const [key, value] of Object.entries(config.env)) lines.push(`env ${b64(`${key}=${value}`)}`);
  for (const arg of config.argv) lines.push(`arg ${b64(arg)}`);
  if (config.workdir) lines.push(`workdir ${b64(config.workdir)}`);
  if (config.user) lines.push(`user ${b64(config.user)}`);
  for (const file of config.files) lines.push(`file ${b64(file.path)} ${file.mode.toString(8)} ${b64(file.content)}`);
  for (const install of config.installs ?? []) lines.push(`install ${b64(install.source)} ${b64(install.path)} ${install.mode.toString(8)}`);
  lines.push(`stop ${config.stop.signal} ${config.stop.timeoutMs}`);
  return `${lines.join('\n')}\n`;
}

/**
 * A cpio archive holding /hangar/config and the files its installs copy (paths
 * under `hangar/`), to append to the shared base initramfs.
 */
export function machineInitramfs(config: InitConfig, carried: Array<{ path: string; data: Buffer }> = []): Buffer {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'hangar' },
    { kind: 'file', path: 'hangar/config', data: initConfigText(config), mode: 0o600 },
    ...carried.map(({ path, data }) => ({ kind: 'file' as const, path, data, mode: 0o755 })),
  ];
  return cpioArchive(entries);
}
