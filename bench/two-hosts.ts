/**
 * The rig the cross-host benchmarks run on: two hosts in network namespaces of
 * their own joined only by a bridge (test/helpers/hosts-apart.ts), `h1` in fra and
 * `h2` in syd, WireGuard underlay (BENCH_UNDERLAY=plain: VXLAN, to tell WireGuard's
 * share apart), qemu driver, one replica, PostgreSQL; and a
 * busybox `httpd` image (port 8080) as an OCI layout. Torn down whatever happens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostSpec, startCluster, type TestCluster } from '../test/helpers/cluster.ts';
import { createHostsApart, removeClusterApart } from '../test/helpers/hosts-apart.ts';
import { buildImage, busyboxLayer, writeOciLayout } from '../test/helpers/image-build.ts';

const UNDERLAY = process.env.BENCH_UNDERLAY === 'plain' ? 'plain' : 'wireguard';

export interface TwoHosts {
  c: TestCluster;
  /** The hosts as started (to start one again). */
  specs: HostSpec[];
  /** The httpd image, as `oci:/path:tag`. */
  image: string;
}

export async function onTwoHosts(name: string, options: { commonArgs?: string[] }, run: (rig: TwoHosts) => Promise<void>): Promise<void> {
  const tag = Math.random().toString(16).slice(2, 6);
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-${name}-`));
  const machinesNs = [`hgr-${name.slice(0, 2)}a-${tag}`, `hgr-${name.slice(0, 2)}b-${tag}`] as const;
  const built = await buildImage([{ compression: 'gzip', files: busyboxLayer(['sh', 'httpd'], { 'www/index.html': 'hi\n' }) }], {
    Cmd: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], Env: ['PATH=/bin'],
  });
  writeOciLayout(join(dir, 'image'), built, 'v1');
  const rig = await createHostsApart(2, tag);
  const specs: HostSpec[] = [
    { id: 'h1', region: 'fra', apart: rig.hosts[0], extraArgs: ['--driver', 'qemu', '--netns', machinesNs[0], '--underlay', UNDERLAY] },
    { id: 'h2', region: 'syd', apart: rig.hosts[1], extraArgs: ['--driver', 'qemu', '--netns', machinesNs[1], '--underlay', UNDERLAY] },
  ];
  let cluster: TestCluster | undefined;
  try {
    cluster = await startCluster({ replicas: 1, hosts: specs, ...options });
    await run({ c: cluster, specs, image: `oci:${join(dir, 'image')}:v1` });
  } finally {
    await removeClusterApart(cluster, machinesNs, rig);
    rmSync(dir, { recursive: true, force: true });
  }
}
