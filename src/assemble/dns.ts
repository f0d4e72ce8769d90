/**
 * The private DNS of a host with a machines' network: the server listens on the
 * host's transit address, where the namespace sends what its machines ask of
 * `fdaa::3`, and answers from a table of machines kept in memory (in one hangar the
 * edge proxy's, fed by its commits; on a cluster's host every host's, fed by the
 * cluster's changes) and the apps, read every few seconds and at once when a
 * machine of an app not yet read appears. No question reads the database.
 */
import type { Logger } from 'pino';
import type { AppOrg, DirectoryMachine } from '../domain/ports.ts';
import { type DnsView, dnsView } from '../network/dns/directory.ts';
import { DnsServer } from '../network/dns/server.ts';

/** How often the apps (names and organizations) are read again. */
const APPS_EVERY_MS = 5_000;

/** The machines the DNS answers from, kept current by their owner for as long as the DNS runs. */
export interface DnsMachines {
  all(): readonly DirectoryMachine[];
  onChange(listener: (machine: { appName: string }) => void): () => void;
}

export interface PrivateDnsOptions {
  machines: DnsMachines;
  listApps(): Promise<AppOrg[]>;
  hostId: string;
  at: { host: string; port: number };
  log: Logger;
}

/**
 * Serves the private DNS; when it cannot (another server holds the port), says so
 * and serves nothing: machines without .internal names beat no hangar.
 */
export async function servePrivateDns(options: PrivateDnsOptions): Promise<() => Promise<void>> {
  try {
    return await listenPrivateDns(options);
  } catch (error) {
    options.log.error({ err: error, at: options.at }, 'private DNS: cannot listen there; machines get no answers from fdaa::3');
    return async () => undefined;
  }
}

async function listenPrivateDns(options: PrivateDnsOptions): Promise<() => Promise<void>> {
  const { machines, listApps, hostId, at, log } = options;
  // Without the apps yet, nothing is answered until they are read (every few seconds).
  let apps: AppOrg[] = await listApps().catch((error: unknown) => {
    log.warn({ err: error }, 'private DNS: could not read the apps; answering once they are read');
    return [];
  });
  let view: DnsView | undefined;
  let reading: Promise<void> | undefined;
  const readApps = () => {
    reading ??= listApps().then((read) => {
      apps = read;
      view = undefined;
    }, (error: unknown) => log.warn({ err: error }, 'private DNS: could not read the apps; answering from the last read')).finally(() => { reading = undefined; });
  };
  // A machine of an app not read yet (made since): its app is read at once.
  const unlisten = machines.onChange((machine) => {
    view = undefined;
    if (!apps.some((app) => app.name === machine.appName)) readApps();
  });
  const current = () => (view ??= dnsView(apps, machines.all(), hostId));
  const timer = setInterval(readApps, APPS_EVERY_MS);
  timer.unref();
  let server: DnsServer;
  try {
    server = await DnsServer.listen(at, { askerOf: (address) => current().askerOf(address), directory: () => current().directory });
  } catch (error) {
    clearInterval(timer);
    unlisten();
    throw error;
  }
  log.info({ at }, 'private DNS: answering .internal names for this host\'s machines');
  return async () => {
    clearInterval(timer);
    unlisten();
    await server.close();
  };
}
