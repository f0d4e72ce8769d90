/**
 * What the private DNS answers from, made from what the host already holds in
 * memory (its table of machines, every host's in a cluster, and the apps): the
 * machines that are started and not kept out (`dns.skip_registration`), and who
 * asks, by the address a machine of this host asks from.
 */
import type { ProxyMachine } from '../../domain/ports.ts';
import type { AppOrg, DirectoryMachine } from '../../domain/ports.ts';
import { canonicalAddress } from '../layout.ts';
import type { Asker, DnsDirectory, DnsMachine } from './answers.ts';

export interface DnsView {
  directory: DnsDirectory;
  /** The machine of this host that asks from `address`, as an asker (its organization, host and region). */
  askerOf(address: string): Asker | undefined;
}

/** A machine record as the DNS sees it (one without a host is this host's). */
export function directoryMachineOf(machine: ProxyMachine, hostId: string): DirectoryMachine {
  const group = machine.config.metadata?.fly_process_group;
  return {
    id: machine.id, appName: machine.appName, region: machine.region, hostId: machine.hostId ?? hostId, privateIp: machine.privateIp, state: machine.state,
    skipRegistration: machine.config.dns?.skip_registration === true,
    ...(typeof group === 'string' && group !== '' ? { processGroup: group } : {}),
  };
}

export function dnsView(apps: readonly AppOrg[], machines: readonly DirectoryMachine[], hostId: string): DnsView {
  const orgs = new Map(apps.map((app) => [app.name, { org: app.orgSlug }]));
  const answered: DnsMachine[] = [];
  const askers = new Map<string, Asker>();
  for (const machine of machines) {
    const org = orgs.get(machine.appName)?.org;
    if (org === undefined || !machine.privateIp || machine.state === 'destroyed') continue;
    const address = canonicalAddress(machine.privateIp);
    if (machine.hostId === hostId) askers.set(address, { org, hostId, region: machine.region });
    if (machine.state !== 'started' || machine.skipRegistration) continue;
    answered.push({
      id: machine.id, app: machine.appName, region: machine.region, hostId: machine.hostId, address,
      ...(machine.processGroup ? { processGroup: machine.processGroup } : {}),
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
