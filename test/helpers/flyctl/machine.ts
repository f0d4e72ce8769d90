/**
 * `fly machine run|list|start|stop|suspend|destroy`, replayed call by call in
 * flyctl's order (internal/command/machine: run.go, list.go, select.go, start.go,
 * stop.go, suspend.go, destroy.go).
 */
import assert from 'node:assert/strict';
import { type Call, type FlyMachine, graphql, NONCE, ok, required, underLeases } from './call.ts';

/**
 * `fly machine run IMAGE -a APP`: the app, its network, the flaps app, the image
 * resolved between a build's start and end, the machine launched with the secrets
 * version flyctl last wrote, waited for and its checks read, then the egress check.
 */
export async function flyMachineRun(call: Call, app: string, image: string, minSecretsVersion = 0): Promise<{ machine: FlyMachine; printed: string[] }> {
  const compact = (await required(call, 'GetAppCompact', { appName: app })).appcompact;
  assert.ok((await required(call, 'GetAppNetwork', { appName: app })).app.network, 'the app\'s network');
  await ok(call('GET', `/v1/apps/${app}`));
  await ok(call('GET', `/api/v1/organizations/${compact.organization.slug}`));
  const build = await ok(call('POST', '/api/v1/builds', { app_name: app, builder_type: 'remote', strategies_available: [] }));
  const resolved = (await required(call, 'ResolveImageForApp', { appName: app, imageRef: image })).app.image;
  await ok(call('POST', '/api/v1/builds/finish', { build_id: build.id, status: 'completed', final_image: { id: resolved.id, tag: resolved.ref, size_bytes: Number(resolved.compressedSize) } }));
  const ref = resolved.digest ? `${resolved.ref}@${resolved.digest}` : resolved.ref;
  const launched = await ok(call('POST', `/v1/apps/${app}/machines`, { config: { image: ref, auto_destroy: false, dns: { skip_registration: false } }, min_secrets_version: minSecretsVersion }));
  const printed = ['Success! A Machine has been successfully launched in app ' + compact.name, ` Machine ID: ${launched.id}`, ` Instance ID: ${launched.instance_id}`, ` State: ${launched.state}`];
  // WaitForStartOrStop, then the health checks watched (none here), then the egress addresses.
  await ok(call('GET', `/v1/apps/${app}/machines/${launched.id}/wait?state=started&instance_id=${launched.instance_id}&timeout=60`));
  const machine = await ok(call('GET', `/v1/apps/${app}/machines/${launched.id}`)) as FlyMachine;
  await graphql(call, 'GetAppScopedEgressIPAddresses', { appName: app });
  printed.push('Machine started, you can connect via the following private ip', `  ${machine.private_ip}`);
  return { machine, printed };
}

/** `fly machine list -a APP`: id, name, state and region of each. */
export async function flyMachineList(call: Call, app: string): Promise<Array<{ id: string; state: string; region: string }>> {
  return (await ok(call('GET', `/v1/apps/${app}/machines`)) as FlyMachine[]).map(({ id, state, region }) => ({ id, state, region }));
}

type Action = 'start' | 'stop' | 'suspend' | 'destroy';

/**
 * `fly machine start|stop|suspend ID` and `fly machine destroy --force ID`, with no
 * app named: `GetMachine` finds the app, flaps reads the machine, which is leased,
 * acted on with the lease's nonce, and released. Returns what flyctl prints.
 */
export async function flyMachineById(call: Call, id: string, action: Action): Promise<string[]> {
  const found = (await required(call, 'GetMachine', { machineId: id })).gqlmachine;
  const app = found.app.name as string;
  const machine = await ok(call('GET', `/v1/apps/${app}/machines/${id}`)) as FlyMachine;
  return underLeases(call, app, [machine], async ([leased]) => {
    assert.ok(leased);
    const headers = { [NONCE]: leased.nonce };
    switch (action) {
      case 'start':
        assert.notEqual((await ok(call('POST', `/v1/apps/${app}/machines/${id}/start`, undefined, headers))).status, 'error');
        return [`${id} has been started`];
      case 'stop':
        await ok(call('POST', `/v1/apps/${app}/machines/${id}/stop`, { id, signal: '' }, headers));
        return [`Sending kill signal to machine ${id}...`, `${id} has been successfully stopped`];
      case 'suspend':
        await ok(call('POST', `/v1/apps/${app}/machines/${id}/suspend`, undefined, headers));
        return [`${id} is being suspended`];
      case 'destroy': {
        const compact = (await required(call, 'GetAppCompact', { appName: app })).appcompact;
        await ok(call('DELETE', `/v1/apps/${compact.name}/machines/${id}?kill=true`, undefined, headers));
        return [`machine ${id} was found and is currently in ${leased.state} state, attempting to destroy...`, `${id} has been destroyed`];
      }
    }
  });
}
