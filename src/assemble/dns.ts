/**
 * The private DNS of a host with a machines' network: the server listens on the
 * host's transit address, where the namespace sends what its machines ask of
 * `fdaa::3`, and answers from a machine table kept by the feed (the edge proxy's,
 * where there is one) and the apps read every few seconds (and at once when a
 * machine of an app not yet read appears). No question reads the database.
 */
import type { Logger } from 'pino';
import type { ControlDeps } from '../control/ports.ts';
import type { App } from '../domain/machine.ts';
import { type DnsView, dnsView } from '../network/dns/directory.ts';
import { DnsServer } from '../network/dns/server.ts';
import type { MachineTable } from '../proxy/machine-table.ts';

/** How often the apps (names and organizations) are read again. */
const APPS_EVERY_MS = 5_000;

/** `table` is followed by its owner, who keeps it current for as long as the DNS runs. */
export async function servePrivateDns(control: ControlDeps, table: MachineTable, at: { host: string; port: number }, log: Logger): Promise<() => Promise<void>> {
  let apps: App[] = await control.store.listApps();
  let view: DnsView | undefined;
  let reading: Promise<void> | undefined;
  const readApps = () => {
    reading ??= control.store.listApps().then((read) => {
      apps = read;
      view = undefined;
    }, (error: unknown) => log.warn({ err: error }, 'private DNS: could not read the apps; answering from the last read')).finally(() => { reading = undefined; });
  };
  // A machine of an app not read yet (made since): its app is read at once.
  const unlisten = table.onChange((machine) => {
    view = undefined;
    if (!apps.some((app) => app.name === machine.appName)) readApps();
  });
  const current = () => (view ??= dnsView(apps, table.all(), control.settings.hostId));
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
