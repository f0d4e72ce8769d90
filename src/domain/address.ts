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
