/**
 * Private addresses. Each machine gets an IPv6 address in fdaa::/16 built from its
 * app's network number and the machine's host number, as Fly's 6PN addresses are.
 */

/** fdaa:0:<app>:a7b:<host hi>:<host lo>:<machine>::2-style address, unique per (app, machine). */
export function privateIp(appNetNumber: number, machineNumber: number): string {
  const hex = (n: number) => (n & 0xffff).toString(16);
  return `fdaa:0:${hex(appNetNumber)}:a7b:${hex(machineNumber >>> 16)}:${hex(machineNumber)}:0:2`;
}
