/**
 * `--role api`: an API replica of a cluster. It keeps nothing of its own: every
 * decision is a transaction in PostgreSQL, effects go to the machines' hosts in
 * the commits that decide them, and what someone waits on (exec, logs, volume
 * files…) is a call to the host's agent. It serves no traffic and runs no VMs.
 */
import { AgentClient } from '../cluster/agent-client.ts';
import { RemoteRuntime } from '../cluster/remote-runtime.ts';
import { AgentSnapshotCarrier } from '../cluster/snapshot-carrier.ts';
import { agentVolumes } from '../cluster/remote-volumes.ts';
import { relayMachineChanges } from '../cluster/relay.ts';
import { ChangeFollower } from '../cluster/change-follower.ts';
import { HostHealth } from '../control/host-health.ts';
import { releaseUnreachableWaits } from '../control/host-reach.ts';
import { finishInterrupted } from '../control/interrupted.ts';
import { watchForLostHosts } from '../control/lost-hosts.ts';
import { buildApi, controlDeps } from './core.ts';
import type { AssembleOptions, Hangar } from './options.ts';
import { startReaper } from '../e2b/reaper.ts';

export async function assembleApi(options: AssembleOptions): Promise<Hangar> {
  const { cluster, store } = options;
  if (!cluster || !store) throw new Error('role api needs a cluster: a PostgreSQL store and its link');
  const stops: Array<() => void> = [];
  try {
    const agents = new AgentClient(store, cluster.identity);
    const control = controlDeps(options, {
      store,
      runtime: new RemoteRuntime({ store, agents, freshMs: () => control.settings.hostLostAfterMs }),
      volumes: agentVolumes(agents),
      settings: { hostId: '' },
    });
    stops.push(relayMachineChanges(control, cluster.link, options.logger));
    // Every commit of the cluster reaches this replica's feed (the web console's live view follows it).
    if (store.changes) {
      const follower = await ChangeFollower.start(store.changes, cluster.link, control.feed, options.logger);
      stops.push(() => void follower.stop());
    }
    // The hosts run their machines' checks and record the results: every replica shows the same.
    control.health = store.checks;
    control.carrier = new AgentSnapshotCarrier(agents);
    control.pinTag = options.pinTag;
    // Whoever waits for a machine on a host that stops being heard from is told so within a second of its declaration.
    const health = new HostHealth(store, control.settings.hostLostAfterMs);
    control.hostHealth = health;
    const onError = (error: unknown) => options.logger.warn({ err: error }, 'reading the hosts\' heartbeats failed');
    const release = () => void releaseUnreachableWaits(control).catch(onError);
    const reread = () => void health.refresh().then(release, onError);
    stops.push(await health.start(onError, release));
    cluster.link.onHostChanged(reread);
    stops.push(watchForLostHosts(control, control.settings.heartbeatMs, reread));
    stops.push(finishInterrupted(control));
    // Sandboxes past their end are ended by the processes that serve E2B's API (not host agents).
    const reaper = startReaper(control);
    stops.push(() => reaper.stop());
    const app = await buildApi(control, options);
    return {
      role: 'api', app, control,
      idle: async () => undefined,
      async close() {
        for (const stop of stops) stop();
        await app.close();
        await agents.close();
        await cluster.link.close();
        await store.close();
      },
    };
  } catch (error) {
    // The store and link are the caller's to close when assembling fails.
    for (const stop of stops) stop();
    throw error;
  }
}
