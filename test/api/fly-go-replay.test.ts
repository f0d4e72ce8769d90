/**
 * Replays what fly-go's flaps client (superfly/fly-go, flaps/flaps_machines.go and
 * flaps_machines_wait.go) sends for every machine operation: the method, the path
 * and query string as flaps builds them, its headers, and the body bytes Go's
 * encoding/json makes of its input structs (machine_types.go). Each answer is
 * decoded as fly-go decodes it (Go's rules, see ../helpers/fly-go.ts), and the
 * fields flyctl reads are checked.
 *
 * This fly-go has no client for events, versions or memory; the machines' JSON
 * carries their events, which are decoded as fly.MachineEvent with the machine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  flyGo, type FlyGoReply, type GoType, goDecodeErrors, Machine, MachineExecResponse, MachineLease, MachinePsResponse, Machines,
  MachineStartResponse, Metadata,
} from '../helpers/fly-go.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const APP = 'flygo';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Decodes a 2xx answer as fly-go does (`json.NewDecoder(resp.Body).Decode(out)`). */
function decode(reply: FlyGoReply, type: GoType, what: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.ok(reply.status >= 200 && reply.status <= 299, `${what}: fly-go fails on ${reply.status}: ${reply.text}`);
  const json = JSON.parse(reply.text);
  assert.deepEqual(goDecodeErrors(json, type), [], `${what}: fly-go cannot decode the answer`);
  return json;
}

/** fly-go passes a nil `out` for these: only the status matters (> 299 is an error). */
function succeeds(reply: FlyGoReply, what: string): void {
  assert.ok(reply.status >= 200 && reply.status <= 299, `${what}: fly-go fails on ${reply.status}: ${reply.text}`);
}

/**
 * json.Marshal(fly.LaunchMachineInput{Region: "local", Name: "web-1", Config: &fly.MachineConfig{…}}),
 * as `fly machine run` builds it: struct fields in declaration order, map keys
 * sorted, `init` always (no omitempty), `min_machines_running` a non-nil pointer to
 * 0, `force_instance_key` null (no omitempty), `skip_secrets` always, durations as
 * fly.Duration strings, autostop as MachineAutostop's "suspend".
 */
function launchBody(image: string, extra = ''): string {
  return `{"config":{"env":{"APP_ENV":"production"},"init":{},"guest":{"cpu_kind":"shared","cpus":1,"memory_mb":256},`
    + '"metadata":{"fly_platform_version":"v2","fly_process_group":"app"},'
    + '"services":[{"protocol":"tcp","internal_port":8080,"autostop":"suspend","autostart":true,"min_machines_running":0,'
    + '"ports":[{"port":80,"handlers":["http"],"force_https":true},{"port":443,"handlers":["tls","http"]}],'
    + '"concurrency":{"type":"requests","hard_limit":25,"soft_limit":20},"force_instance_key":null}],'
    + '"checks":{"alive":{"port":8080,"type":"tcp","interval":"15s","timeout":"2s","grace_period":"1s"}},'
    + `"image":"${image}","restart":{"policy":"on-failure","max_retries":10},"stop_config":{"timeout":"10s","signal":"SIGTERM"}},`
    + `"region":"local","name":"web-1"${extra},"skip_secrets":false}`;
}

describe('fly-go replay: every machine operation of the flaps client', () => {
  let t: TestHangar;
  let id: string;
  let version: string;
  let nonce: string;
  const machines = `/apps/${APP}/machines`;
  const path = (suffix = '') => `${machines}/${id}${suffix}`;
  const lastStop = () => t.driver.calls.filter((call) => call.op === 'stop' && call.machineId === id).at(-1)?.detail;

  before(async () => {
    // Health checks run against a closed loopback port: nothing leaves the host.
    t = await testHangar({ proxy: { domain: 'localhost', idleMs: 60_000, upstreams: () => ({ host: '127.0.0.1', port: 1 }) } });
    await t.app(APP);
  });
  after(() => t.close());

  it('Launch: POST /apps/{app}/machines with a LaunchMachineInput', async () => {
    const machine = decode(await flyGo(t, { method: 'POST', path: machines, body: launchBody('registry.test/web:1') }), Machine, 'Launch');
    assert.match(machine.id, /^[0-9a-f]{14}$/);
    assert.equal(machine.name, 'web-1');
    assert.equal(machine.region, 'local');
    assert.match(machine.instance_id, ULID);
    assert.equal(machine.version, machine.instance_id);
    assert.match(machine.private_ip, /^fdaa:/);
    assert.equal(machine.host_status, 'ok');
    assert.equal(machine.cordoned, false);
    assert.equal(machine.config.image, 'registry.test/web:1');
    assert.deepEqual(machine.config.init, {});
    assert.deepEqual(machine.config.stop_config, { timeout: '10s', signal: 'SIGTERM' });
    assert.equal(machine.config.services[0].autostop, 'suspend');
    assert.equal(machine.image_ref.repository, 'web');
    assert.equal(machine.nonce, undefined, 'nonce only with lease_ttl');
    id = machine.id;
    version = machine.instance_id;
  });

  it('Wait: GET …/wait?state=started&timeout=60&version=… (WithWaitVersion; keys sorted by go-querystring)', async () => {
    succeeds(await flyGo(t, { method: 'GET', path: path(`/wait?state=started&timeout=60&version=${version}`) }), 'Wait');
    // Wait's defaults (state started, timeout 60) and WithWaitStates("started,stopped"), which flaps sends unsplit.
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait defaults');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started%2Cstopped&timeout=60') }), 'Wait with a comma');
  });

  it('Get, List, ListActive and List(ctx, app, "summary=true") decode as fly.Machine', async () => {
    const got = decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get');
    assert.equal(got.state, 'started');
    assert.equal(got.events[0].type, 'start');
    assert.equal(typeof got.events[0].timestamp, 'number');
    assert.ok(got.checks.some((check: { name: string }) => check.name === 'alive'));
    const listed = decode(await flyGo(t, { method: 'GET', path: machines }), Machines, 'List');
    assert.deepEqual(listed.map((m: { id: string }) => m.id), [id]);
    assert.equal(listed[0].config.metadata.fly_platform_version, 'v2', 'ListFlyAppsMachines keeps v2 machines');
    const summary = decode(await flyGo(t, { method: 'GET', path: `${machines}?summary=true` }), Machines, 'List summary');
    assert.deepEqual([summary[0].id, summary[0].state, summary[0].instance_id], [id, 'started', version]);
  });

  it('AcquireLease, FindLease, RefreshLease: data.version is the machine\'s instance_id', async () => {
    const acquired = decode(await flyGo(t, { method: 'POST', path: path('/lease?ttl=120') }), MachineLease, 'AcquireLease');
    nonce = acquired.data.nonce;
    assert.equal(acquired.status, 'success');
    assert.match(nonce, /^[0-9a-f]{32}$/);
    assert.ok(Number.isInteger(acquired.data.expires_at) && acquired.data.expires_at > Date.now() / 1000 + 100);
    assert.equal(acquired.data.owner, 'hangar');
    assert.equal(acquired.data.version, version);
    const found = decode(await flyGo(t, { method: 'GET', path: path('/lease') }), MachineLease, 'FindLease');
    assert.deepEqual([found.data.nonce, found.data.version], [nonce, version]);
    const refreshed = decode(await flyGo(t, { method: 'POST', path: path('/lease?ttl=120'), nonce }), MachineLease, 'RefreshLease');
    assert.deepEqual([refreshed.data.nonce, refreshed.data.version], [nonce, version]);
  });

  it('SetMetadata, GetMetadata, DeleteMetadata work while a lease is held (fly-go sends no nonce)', async () => {
    succeeds(await flyGo(t, { method: 'POST', path: path('/metadata/fly_release_version'), body: '{"value":"7"}' }), 'SetMetadata');
    const metadata = decode(await flyGo(t, { method: 'GET', path: path('/metadata') }), Metadata, 'GetMetadata');
    assert.equal(metadata.fly_release_version, '7');
    assert.equal(metadata.fly_platform_version, 'v2');
    succeeds(await flyGo(t, { method: 'DELETE', path: path('/metadata/fly_release_version') }), 'DeleteMetadata');
    assert.equal(decode(await flyGo(t, { method: 'GET', path: path('/metadata') }), Metadata, 'GetMetadata').fly_release_version, undefined);
    // Every other mutating call stays lease-guarded.
    const cordon = await flyGo(t, { method: 'POST', path: path('/cordon') });
    assert.equal(cordon.status, 409);
    assert.match(JSON.parse(cordon.text).error, /lease currently held by/);
    assert.equal((await flyGo(t, { method: 'POST', path: path('/stop'), body: `{"id":"${id}","timeout":"0s"}` })).status, 409);
  });

  it('Update with the nonce: a new instance_id, waited for; the old version reads stopped; the lease follows the version', async () => {
    const updated = decode(await flyGo(t, { method: 'POST', path: path(), body: launchBody('registry.test/web:2'), nonce }), Machine, 'Update');
    assert.notEqual(updated.instance_id, version);
    assert.equal(updated.config.image, 'registry.test/web:2');
    const old = version;
    version = updated.instance_id;
    succeeds(await flyGo(t, { method: 'GET', path: path(`/wait?state=started&timeout=60&version=${version}`) }), 'Wait new version');
    succeeds(await flyGo(t, { method: 'GET', path: path(`/wait?state=stopped&timeout=60&version=${old}`) }), 'Wait old version');
    const refreshed = decode(await flyGo(t, { method: 'POST', path: path('/lease?ttl=120'), nonce }), MachineLease, 'RefreshLease');
    assert.equal(refreshed.data.version, version);
  });

  it('Stop with fly-go\'s zero timeout ("0s") uses the machine\'s stop_config, not an immediate kill', async () => {
    // json.Marshal(fly.StopMachineInput{ID: id}): Signal is omitempty, Timeout a fly.Duration struct (never omitted).
    succeeds(await flyGo(t, { method: 'POST', path: path('/stop'), body: `{"id":"${id}","timeout":"0s"}`, nonce }), 'Stop');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=stopped&timeout=60') }), 'Wait stopped');
    assert.deepEqual(lastStop(), { signal: 'SIGTERM', timeoutMs: 10_000 });
    const stopped = decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get');
    assert.equal(stopped.events[0].type, 'exit');
    assert.equal(stopped.events[0].request.exit_event.requested_stop, true);
  });

  it('Start with the nonce answers fly.MachineStartResponse', async () => {
    const started = decode(await flyGo(t, { method: 'POST', path: path('/start'), nonce }), MachineStartResponse, 'Start');
    assert.equal(started.previous_state, 'stopped');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
  });

  it('Restart: ?force_stop=false, then &timeout=<time.Duration> and &signal= when given', async () => {
    succeeds(await flyGo(t, { method: 'POST', path: path('/restart?force_stop=false&timeout=3s&signal=SIGUSR1'), nonce }), 'Restart');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
    assert.deepEqual(lastStop(), { signal: 'SIGUSR1', timeoutMs: 3000 });
    succeeds(await flyGo(t, { method: 'POST', path: path('/restart?force_stop=false'), nonce }), 'Restart (defaults)');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
    assert.deepEqual(lastStop(), { signal: 'SIGTERM', timeoutMs: 10_000 });
  });

  it('Cordon and Uncordon with the nonce', async () => {
    succeeds(await flyGo(t, { method: 'POST', path: path('/cordon'), nonce }), 'Cordon');
    assert.equal(decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get').cordoned, true);
    succeeds(await flyGo(t, { method: 'POST', path: path('/uncordon'), nonce }), 'Uncordon');
    assert.equal(decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get').cordoned, false);
  });

  it('Suspend with the nonce, then Start resumes', async () => {
    succeeds(await flyGo(t, { method: 'POST', path: path('/suspend'), nonce }), 'Suspend');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=suspended&timeout=60') }), 'Wait suspended');
    const started = decode(await flyGo(t, { method: 'POST', path: path('/start'), nonce }), MachineStartResponse, 'Start');
    assert.equal(started.previous_state, 'suspended');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
  });

  it('Exec ({"cmd", "timeout"} of fly.MachineExecRequest) and GetProcesses', async () => {
    const exec = decode(await flyGo(t, { method: 'POST', path: path('/exec'), body: '{"cmd":"echo hello","timeout":30}' }), MachineExecResponse, 'Exec');
    assert.deepEqual([exec.exit_code, exec.stdout, exec.stderr], [0, 'hello\n', '']);
    const ps = decode(await flyGo(t, { method: 'GET', path: path('/ps') }), MachinePsResponse, 'GetProcesses');
    assert.ok(ps.length > 0);
    assert.equal(typeof ps[0].command, 'string');
  });

  it('ReleaseLease, then Kill ({"signal":9}, no nonce) and the machine restarts by its policy', async () => {
    succeeds(await flyGo(t, { method: 'DELETE', path: path('/lease'), nonce }), 'ReleaseLease');
    assert.equal((await flyGo(t, { method: 'GET', path: path('/lease') })).status, 404);
    succeeds(await flyGo(t, { method: 'POST', path: path('/signal'), body: '{"signal":9}' }), 'Kill');
    await t.idle();
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
    const machine = decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get');
    const exit = machine.events.find((event: { type: string }) => event.type === 'exit');
    assert.deepEqual([exit.request.exit_event.exit_code, exit.request.exit_event.restarting], [137, true]);
  });

  it('Destroy: DELETE …/{id}?kill=true, waited for as destroyed', async () => {
    succeeds(await flyGo(t, { method: 'DELETE', path: path('?kill=true') }), 'Destroy');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=destroyed&timeout=60') }), 'Wait destroyed');
    assert.equal(decode(await flyGo(t, { method: 'GET', path: path() }), Machine, 'Get').state, 'destroyed');
  });

  it('Launch with lease_ttl and skip_launch answers the nonce; Stop and Destroy(kill=false) with it', async () => {
    const body = launchBody('registry.test/web:1', ',"skip_launch":true').replace('"skip_secrets":false}', '"skip_secrets":false,"lease_ttl":60}').replace('"name":"web-1"', '"name":"web-2"');
    const machine = decode(await flyGo(t, { method: 'POST', path: machines, body }), Machine, 'Launch');
    assert.equal(machine.state, 'created');
    assert.match(machine.nonce, /^[0-9a-f]{32}$/);
    id = machine.id;
    const lease = decode(await flyGo(t, { method: 'GET', path: path('/lease') }), MachineLease, 'FindLease');
    assert.deepEqual([lease.data.nonce, lease.data.version], [machine.nonce, machine.instance_id]);
    assert.equal((await flyGo(t, { method: 'DELETE', path: path('?kill=false') })).status, 409, 'the lease guards destroy');
    decode(await flyGo(t, { method: 'POST', path: path('/start'), nonce: machine.nonce }), MachineStartResponse, 'Start');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
    // fly.StopMachineInput{ID, Signal: "SIGUSR1"}: the signal is the user's, the grace period still the config's.
    succeeds(await flyGo(t, { method: 'POST', path: path('/stop'), body: `{"id":"${id}","signal":"SIGUSR1","timeout":"0s"}`, nonce: machine.nonce }), 'Stop');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=stopped&timeout=60') }), 'Wait stopped');
    assert.deepEqual(lastStop(), { signal: 'SIGUSR1', timeoutMs: 10_000 });
    succeeds(await flyGo(t, { method: 'DELETE', path: path('?kill=false'), nonce: machine.nonce }), 'Destroy');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=destroyed&timeout=60') }), 'Wait destroyed');
  });

  it('Stop with "0s" on a machine without stop_config uses Fly\'s default grace period', async () => {
    const body = '{"config":{"init":{},"image":"registry.test/plain:1"},"region":"local","skip_secrets":false}';
    id = decode(await flyGo(t, { method: 'POST', path: machines, body }), Machine, 'Launch').id;
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=started&timeout=60') }), 'Wait started');
    succeeds(await flyGo(t, { method: 'POST', path: path('/stop'), body: `{"id":"${id}","timeout":"0s"}` }), 'Stop');
    succeeds(await flyGo(t, { method: 'GET', path: path('/wait?state=stopped&timeout=60') }), 'Wait stopped');
    assert.deepEqual(lastStop(), { signal: 'SIGINT', timeoutMs: 5000 });
  });
});
