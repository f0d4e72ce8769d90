/**
 * What image a machine may give itself through `/.fly/api` (an update of its own
 * config). A token holder may run any image, including ones on the host's disk;
 * a machine may not make hangar read host files or talk to host-local services:
 * it may keep its image, or use a registry the operator allows (`--guest-image-
 * registries`), and never one on the host, on a link-local address or inside the
 * machines' network, whatever name it is given.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { HangarError } from '../domain/errors.ts';
import { parseImageRef } from '../domain/image-ref.ts';

/** Resolves a host name to every address it has. */
export type HostResolver = (host: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/** Addresses that are the host itself, its links, or hangar's machines (their ranges are carved from 172.16.0.0/12). */
const HOST_LOCAL = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['224.0.0.0', 4], ['255.255.255.255', 32]] as const) HOST_LOCAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fe80::', 10], ['fdaa::', 16], ['ff00::', 8]] as const) HOST_LOCAL.addSubnet(net, prefix, 'ipv6');

export function isHostLocal(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return HOST_LOCAL.check(mapped, 'ipv4');
  const family = isIP(address);
  return family === 0 ? true : HOST_LOCAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const refuse = (message: string) => new HangarError('forbidden', `a machine cannot set its own image to this: ${message}`, 'ask the operator to allow the registry with --guest-image-registries');

/** Throws unless a machine may change its image from `current` to `image`. */
export async function checkGuestImage(image: string, current: string, allowed: readonly string[], resolve: HostResolver): Promise<void> {
  if (image === current) return;
  const ref = parseImageRef(image);
  if (ref.registry === 'oci' || ref.registry === 'docker-archive') throw refuse('images on the host\'s disk are for the operator only');
  const host = ref.registry.replace(/^\[([^\]]+)\](?::\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1').toLowerCase();
  if (!allowed.includes(ref.registry) && !allowed.includes(host)) {
    throw refuse(`registry ${ref.registry} is not one machines may pull from${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
  const addresses = isIP(host) ? [host] : host === 'localhost' ? ['127.0.0.1'] : await resolve(host).catch(() => [] as string[]);
  if (addresses.length === 0) throw refuse(`registry ${ref.registry} does not resolve`);
  if (addresses.some(isHostLocal)) throw refuse(`registry ${ref.registry} is on the host or inside its machines' network`);
}
