/**
 * What the private DNS answers from, made from records the host already holds in
 * memory (its machine table and its apps): the machines that are started and not
 * kept out (`dns.skip_registration`), and who asks, by the address a machine of
 * this host asks from.
 */
import type { App, MachineRecord } from '../../domain/machine.ts';
import { canonicalAddress } from '../layout.ts';
import type { Asker, DnsDirectory, DnsMachine } from './answers.ts';

export interface DnsView {
  directory: DnsDirectory;
  /** The machine of this host that asks from `address`, as an asker (its organization, host and region). */
  askerOf(address: string): Asker | undefined;
}

export function dnsView(apps: readonly App[], machines: readonly MachineRecord[], hostId: string): DnsView {
  const orgs = new Map(apps.map((app) => [app.name, { org: app.orgSlug }]));
  const answered: DnsMachine[] = [];
  const askers = new Map<string, Asker>();
  for (const machine of machines) {
    const org = orgs.get(machine.appName)?.org;
    if (org === undefined || !machine.privateIp || machine.state === 'destroyed') continue;
    const address = canonicalAddress(machine.privateIp);
    const host = machine.hostId ?? hostId;
    if (host === hostId) askers.set(address, { org, hostId: host, region: machine.region });
    if (machine.state !== 'started' || machine.config.dns?.skip_registration === true) continue;
    const group = machine.config.metadata?.fly_process_group;
    answered.push({
      id: machine.id, app: machine.appName, region: machine.region, hostId: host, address,
      ...(typeof group === 'string' && group !== '' ? { processGroup: group } : {}),
    });
  }
  return {
    directory: { apps: orgs, machines: answered },
    askerOf: (address) => {
      try {
        return askers.get(canonicalAddress(address));
      } catch {
        return undefined; // no address a machine of this host has
      }
    },
  };
}
