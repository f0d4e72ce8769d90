/**
 * What a cold boot of one machine version needs besides the image: its volumes
 * as guest disks, and hangar-init's configuration (host name, addresses, the
 * process, env, files, stop signal). Pure functions of the spec.
 */
import { pinnedReference, type ImageRef } from '../../domain/image-ref.ts';
import { configStop } from '../../domain/lifecycle/actions.ts';
import { processArgv, processEnv, type ImageProcessConfig } from '../../domain/process-spec.ts';
import type { MachineSpec } from '../../domain/runtime.ts';
import { secretFileContent, secretsEnv } from '../../domain/secrets.ts';
import { signalNumber } from '../../domain/signals.ts';
import type { InitConfig } from '../../guest/init-config.ts';
import { sandboxAgentInstalls } from '../../guest/sandbox-agent.ts';
import type { GuestAddresses } from '../../network/keeper.ts';
import { PRIVATE_DNS } from '../../network/layout.ts';

/** The image as prepared for one machine version. */
export interface PreparedImage {
  version: string;
  rootfsPath: string;
  imageRef: ImageRef;
  config: ImageProcessConfig;
}

export interface VolumeMount {
  file: string;
  device: string;
  path: string;
}

/** The machine's volumes, as /dev/vdb onwards. */
export function volumeMounts(spec: MachineSpec, volumePath: ((volumeId: string) => string) | undefined): VolumeMount[] {
  if (!volumePath) return [];
  return (spec.config.mounts ?? []).map((mount, index) => ({
    file: volumePath(mount.volume),
    device: `/dev/vd${String.fromCharCode(98 + index)}`,
    path: mount.path,
  }));
}

/** The guest's interface and addresses on the machines' network. */
export function guestNet(spec: Pick<MachineSpec, 'privateIp'>, net: GuestAddresses | undefined): InitConfig['net'] {
  return net ? { ifname: 'eth0', ipv6: `${spec.privateIp}/128`, gateway6: net.gateway6, ipv4: `${net.ipv4}/32`, gateway4: net.gateway4 } : undefined;
}

/** `net`: the guest's addresses on the machines' network; none leaves it without one. */
export function machineInitConfig(spec: MachineSpec, prepared: PreparedImage, mounts: VolumeMount[], net: GuestAddresses | undefined): InitConfig {
  const init = spec.config.init;
  const stop = configStop(spec.config);
  const ipv4 = net?.ipv4;
  const files = (spec.config.files ?? []).flatMap((file, index) => {
    const base64 = typeof file.raw_value === 'string' ? file.raw_value
      : typeof file.secret_name === 'string' ? secretFileContent(`config.files[${index}]`, file.secret_name, spec.secrets) : undefined;
    return base64 === undefined ? [] : [{ path: file.guest_path, mode: typeof file.mode === 'number' ? file.mode : 0o644, content: Buffer.from(base64, 'base64') }];
  });
  const resolvConf = dnsResolvConf(spec.config.dns, net !== undefined);
  const argv = processArgv(prepared.config, { exec: init.exec, entrypoint: init.entrypoint, cmd: init.cmd });
  if (resolvConf) files.unshift({ path: '/etc/resolv.conf', mode: 0o644, content: Buffer.from(resolvConf) });
  return {
    hostname: spec.machineId,
    rootDevice: '/dev/vda',
    mounts: mounts.map(({ device, path }) => ({ device, path })),
    net: guestNet(spec, net),
    // Secrets win over the config's env; the machine's own FLY_ variables win over both.
    env: processEnv(prepared.config, { ...spec.config.env, ...secretsEnv(spec.config, spec.secrets) }, {
      appName: spec.appName, machineId: spec.machineId, region: spec.region, privateIp: spec.privateIp, privateIpv4: ipv4,
      imageRef: pinnedReference(prepared.imageRef), version: spec.version,
    }),
    argv,
    workdir: prepared.config.WorkingDir || undefined,
    user: prepared.config.User || undefined,
    files,
    installs: sandboxAgentInstalls(argv),
    stop: { signal: signalNumber(stop.signal), timeoutMs: stop.timeoutMs },
  };
}

/**
 * `/etc/resolv.conf`: `config.dns.nameservers`, else, on the machines' network, the
 * host's private DNS (`fdaa::3`, as on Fly: `.internal` names only, nothing sent
 * on); none without a network.
 */
export function dnsResolvConf(dns: MachineSpec['config']['dns'], networked: boolean): string | undefined {
  const servers = dns?.nameservers?.length ? dns.nameservers : networked ? [PRIVATE_DNS] : [];
  if (servers.length === 0) return undefined;
  const lines = servers.map((server) => `nameserver ${server}`);
  if (dns?.searches?.length) lines.push(`search ${dns.searches.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
