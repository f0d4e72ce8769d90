/**
 * A cluster of real hosts for e2e tests: a loopback registry with an idle busybox
 * image, PostgreSQL, API replicas and host agents running QEMU, each with its own
 * machines' namespace (no underlay), and one app; and its teardown, which ends
 * whatever VMs a failed run left (they outlive hangar by design).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startCluster, type TestCluster } from './cluster.ts';
import { busyboxLayer } from './image-build.ts';
import { removeNamespace } from './network.ts';
import { pushImage, startRegistry, type Registry } from './registry.ts';

export interface RealHosts {
  c: TestCluster;
  /** The idle image (`exec sleep`), with the applets asked for. */
  image: string;
  stop(): Promise<void>;
}

export async function startRealHosts(options: {
  app: string; replicas: number; hosts: Array<{ id: string; region: string }>; applets: string[]; replicaArgs?: string[];
}): Promise<RealHosts> {
  const suffix = Math.random().toString(16).slice(2, 6);
  const hosts = options.hosts.map((host, i) => ({ ...host, netns: `hgr-r${i}-${suffix}` }));
  const registry: Registry = await startRegistry();
  let c: TestCluster | undefined;
  const stop = async () => {
    const listed = c ? (await c.call(0, 'GET', `/v1/apps/${options.app}/machines`).catch(() => ({ body: [] }))).body ?? [] : [];
    for (const m of listed) await c?.call(0, 'DELETE', `/v1/apps/${options.app}/machines/${m.id}?force=true`).catch(() => undefined);
    for (const m of listed) await c?.call(0, 'GET', `/v1/apps/${options.app}/machines/${m.id}/wait?state=destroyed&timeout=60`).catch(() => undefined);
    const dirs = [...(c?.hosts.values() ?? [])].map((h) => h.dataDir);
    await c?.stop();
    for (const dir of dirs) {
      try { execFileSync('pkill', ['-KILL', '-f', `${dir}/machines`], { stdio: 'ignore' }); } catch { /* none left */ }
    }
    for (const host of hosts) await removeNamespace(host.netns);
    await registry.stop();
  };
  try {
    await pushImage(registry.host, 'cluster/idle', '1', [{ compression: 'gzip', files: busyboxLayer(options.applets) }], {
      config: { Cmd: ['/bin/sh', '-c', 'exec sleep 100000'], Env: ['PATH=/bin'] },
    });
    c = await startCluster({
      replicas: options.replicas,
      // Replicas of qemu hosts pin a create's tag with the registry's answer.
      replicaArgs: ['--driver', 'qemu', ...(options.replicaArgs ?? [])],
      hosts: hosts.map((h) => ({ id: h.id, region: h.region, extraArgs: ['--driver', 'qemu', '--netns', h.netns, '--underlay', 'off'] })),
    });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: options.app, org_slug: 'personal' })).status, 201);
    return { c, image: `${registry.host}/cluster/idle:1`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
