/**
 * What a machine runs: Docker's override rules between the image config and the
 * machine's `init`, and the environment the process gets (image env, then the
 * config's env, then Fly's machine variables, each also under HANGAR_).
 */
import { invalid } from './errors.ts';

/** The parts of an OCI image config that decide the process. */
export interface ImageProcessConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface InitOverrides {
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
}

/**
 * `init.exec` replaces everything. Otherwise the entrypoint is `init.entrypoint`
 * or the image's; the command is `init.cmd`, else the image's CMD unless the
 * entrypoint was overridden (Docker clears CMD then).
 */
export function processArgv(image: ImageProcessConfig, init: InitOverrides): string[] {
  if (init.exec?.length) return init.exec;
  const entrypoint = init.entrypoint?.length ? init.entrypoint : image.Entrypoint ?? [];
  const cmd = init.cmd?.length ? init.cmd : init.entrypoint?.length ? [] : image.Cmd ?? [];
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw invalid('nothing to run: the image has no ENTRYPOINT or CMD; set config.init.cmd or config.init.exec');
  return argv;
}

export interface MachineIdentity {
  appName: string;
  machineId: string;
  region: string;
  privateIp: string;
  /** The machine's IPv4 address inside hangar's network namespace (hangar's own; Fly has no such variable). */
  privateIpv4?: string;
  imageRef: string;
  version: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The process environment, later sources overriding earlier ones. Names are the
 * image's and the user's, so they are gathered in a Map: on a plain object,
 * "__proto__" would be lost.
 */
export function processEnv(image: ImageProcessConfig, configEnv: Record<string, string>, identity: MachineIdentity): Record<string, string> {
  const env = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  for (const entry of image.Env ?? []) {
    const at = entry.indexOf('=');
    if (at > 0) env.set(entry.slice(0, at), entry.slice(at + 1));
  }
  for (const [name, value] of Object.entries(configEnv)) env.set(name, value);
  const machine: Record<string, string> = {
    APP_NAME: identity.appName,
    MACHINE_ID: identity.machineId,
    REGION: identity.region,
    PRIVATE_IP: identity.privateIp,
    IMAGE_REF: identity.imageRef,
    MACHINE_VERSION: identity.version,
  };
  for (const [key, value] of Object.entries(machine)) {
    env.set(`FLY_${key}`, value);
    env.set(`HANGAR_${key}`, value);
  }
  if (identity.privateIpv4) env.set('HANGAR_PRIVATE_IPV4', identity.privateIpv4);
  return Object.fromEntries(env);
}
