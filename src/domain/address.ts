/**
 * Private addresses. Each machine gets an IPv6 address in fdaa::/16 built from its
 * app's network number, its host's number and the machine's number, as Fly's 6PN
 * addresses are. The app's /48 comes first: isolation between apps relies on it.
 */

/** The host number of `hangar serve --netns hangar`: the group every address carried before hosts had numbers. */
export const DEFAULT_HOST_NUMBER = 0xa7b;

/** fdaa:0:<app>:<host>:<machine hi>:<machine lo>:0:2, unique per (app, host, machine). */
export function privateIp(appNetNumber: number, hostNumber: number, machineNumber: number): string {
  const hex = (n: number) => (n & 0xffff).toString(16);
  return `fdaa:0:${hex(appNetNumber)}:${hex(hostNumber)}:${hex(machineNumber >>> 16)}:${hex(machineNumber)}:0:2`;
}

/** The eight groups of an IPv6 address, as numbers. */
export function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const part = (text: string) => (text ? text.split(':') : []);
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((group) => parseInt(group, 16));
}
