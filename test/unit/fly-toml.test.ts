import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlyToml } from '../../src/domain/app-config/fly-toml.ts';
import { checkFlyToml, machineConfigFor, memoryMb, processGroups } from '../../src/domain/app-config/machine-configs.ts';
import { normalizeConfig } from '../../src/domain/config.ts';

const release = { id: 'rel_1', version: 3 };

/** As `fly launch` writes one, with the suspend documentation's [[http_service.concurrency]]. */
const LAUNCHED = `# fly.toml app configuration file generated for my-app
app = 'my-app'
primary_region = 'fra'
kill_signal = 'SIGINT'
kill_timeout = 5

[build]
  image = 'registry.test/web:1'

[env]
  PORT = '8080'
  WORKERS = 4
  DEBUG = false

[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = "suspend" # or "stop"
  auto_start_machines = true
  min_machines_running = 0
  processes = ['app']

[[http_service.concurrency]]
  type = "requests"
  soft_limit = 25

[[vm]]
  memory = '1gb'
  cpu_kind = 'shared'
  cpus = 1
`;

describe('fly.toml', () => {
  it('reads what fly launch writes, the suspend documentation\'s concurrency too, into the machine config flyctl makes', () => {
    const { config, warnings } = parseFlyToml(LAUNCHED);
    assert.deepEqual(warnings, []);
    checkFlyToml(config);
    assert.deepEqual(processGroups(config), ['app']);
    const machine = machineConfigFor(config, 'app', 'registry.test/web:1', release);
    assert.deepEqual(machine, {
      image: 'registry.test/web:1',
      env: { PORT: '8080', WORKERS: '4', DEBUG: 'false', FLY_PROCESS_GROUP: 'app', PRIMARY_REGION: 'fra' },
      metadata: { fly_process_group: 'app', fly_platform_version: 'v2', fly_release_id: 'rel_1', fly_release_version: '3' },
      guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 1024 },
      services: [{
        protocol: 'tcp', internal_port: 8080, concurrency: { type: 'requests', soft_limit: 25 }, autostop: 'suspend', autostart: true, min_machines_running: 0,
        ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['http', 'tls'] }],
      }],
      stop_config: { signal: 'SIGINT', timeout: '5s' },
    });
    assert.doesNotThrow(() => normalizeConfig(machine), 'a config the API takes');
  });

  it('gives each process group its command, services, checks, guest, mount, restart policy and files', () => {
    const { config } = parseFlyToml(`
app = "multi"
primary_region = "syd"
[processes]
  web = "bin/server --port 8080"
  worker = "bin/worker -q 'default queue'"
[http_service]
  internal_port = 8080
  processes = ["web"]
[[services]]
  protocol = "tcp"
  internal_port = "5432"
  processes = ["worker"]
  concurrency = "20,25"
  [[services.ports]]
    port = 5432
  [[services.tcp_checks]]
    interval = 15000
    timeout = "2s"
[checks.alive]
  type = "http"
  path = "/healthz"
  method = "get"
  interval = "10s"
  timeout = 2000
  processes = ["web"]
[[vm]]
  size = "shared-cpu-2x"
[[vm]]
  memory = 2048
  processes = ["worker"]
[[mounts]]
  source = "data"
  destination = "/data"
  processes = ["worker"]
[[restart]]
  policy = "never"
  processes = ["worker"]
[[files]]
  guest_path = "/etc/app.conf"
  raw_value = "key=value"
  processes = ["web"]
[[files]]
  guest_path = "/etc/cert.pem"
  secret_name = "CERT"
  processes = ["web"]
`);
    checkFlyToml(config);
    assert.deepEqual(processGroups(config), ['web', 'worker']);
    const web = machineConfigFor(config, 'web', 'img', release) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const worker = machineConfigFor(config, 'worker', 'img', release) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(web.init, { cmd: ['bin/server', '--port', '8080'] });
    assert.deepEqual(worker.init, { cmd: ['bin/worker', '-q', 'default queue'] });
    assert.equal(web.services[0].internal_port, 8080);
    assert.deepEqual(worker.services, [{
      protocol: 'tcp', internal_port: 5432, concurrency: { type: 'requests', soft_limit: 20, hard_limit: 25 }, ports: [{ port: 5432 }],
      checks: [{ type: 'tcp', interval: '15000ms', timeout: '2s' }],
    }]);
    assert.deepEqual(web.checks, { alive: { type: 'http', path: '/healthz', method: 'GET', interval: '10s', timeout: '2000ms', port: 8080 } });
    assert.equal(worker.checks, undefined);
    assert.deepEqual([web.guest, worker.guest], [{ cpu_kind: 'shared', cpus: 2, memory_mb: 512 }, { cpu_kind: 'shared', cpus: 1, memory_mb: 2048 }]);
    assert.deepEqual([web.mounts, worker.mounts], [undefined, [{ path: '/data', name: 'data' }]]);
    assert.deepEqual(worker.restart, { policy: 'no' });
    assert.deepEqual(web.files, [{ guest_path: '/etc/app.conf', raw_value: Buffer.from('key=value').toString('base64') }, { guest_path: '/etc/cert.pem', secret_name: 'CERT' }]);
    assert.equal(web.env.FLY_PROCESS_GROUP, 'web');
    assert.equal(worker.metadata.fly_process_group, 'worker');
    // The deploy gives each machine its volume.
    worker.mounts[0].volume = 'vol_0123456789abcdef';
    for (const machine of [web, worker]) assert.doesNotThrow(() => normalizeConfig(machine));
  });

  it('refuses an invalid key or value naming its line, and warns of keys it does not know, naming theirs', () => {
    const refused = (text: string, message: RegExp) => assert.throws(() => {
      const { config } = parseFlyToml(text);
      checkFlyToml(config);
    }, message);
    refused('app = "a"\n\n[http_service]\n  internal_port = "eighty"\n', /fly\.toml:4: http_service\.internal_port must be/);
    refused('app = "a"\n[http_service]\ninternal_port = 8080\nauto_stop_machines = "sometimes"\n', /fly\.toml:4: http_service\.auto_stop_machines must be/);
    refused('app = "a"\n[deploy]\n  strategy = "yolo"\n', /fly\.toml:3: deploy\.strategy must be/);
    refused('app = "a"\n[[vm]]\n  size = "huge-9x"\n', /vm\.0\.size: 'huge-9x' is not a machine size/);
    refused('app = "a"\n[[vm]]\n  memory = "lots"\n', /vm\.0\.memory: "lots" is not a memory size/);
    refused('app = "a"\nkill_timeout = "soon"\n', /fly\.toml:2: kill_timeout must be a duration/);
    refused('app = "a"\n[[statics]]\n  guest_path = "/app/public"\n  url_prefix = "/static"\n', /\[\[statics\]\]: hangar serves no static files/);
    refused('app = "a"\n[[mounts]]\n  source = "d"\n  destination = "/d"\n[deploy]\n  strategy = "canary"\n', /canary deployments are not supported with mounted volumes/);
    refused('app = "a"\n[processes]\n  web = "x"\n[http_service]\n  internal_port = 1\n  processes = ["api"]\n', /http_service\.processes: no process group "api"/);
    refused('app = "a"\n[[files]]\n  guest_path = "/x"\n', /files\.0: give exactly one of local_path, secret_name or raw_value/);
    refused('app = "a"\n[processes]\n  web = "run && rm -rf /"\n', /processes\.web: a command is words/);
    refused('app = "a"\nkey = \n', /fly\.toml:[23]: /);
    const { warnings } = parseFlyToml('app = "a"\nswap_size_mb = 512\nmystery = 1\n\n[http_service]\n  internal_port = 8080\n  shiny = true\n');
    assert.deepEqual(warnings, [
      'fly.toml:3: mystery is not a key hangar knows: it is ignored',
      'fly.toml:7: http_service.shiny is not a key hangar knows: it is ignored',
    ]);
  });

  it('reads memory as flyctl does: binary units, a bare number in MB', () => {
    assert.deepEqual(['1gb', '1GiB', '512mb', '512', '1.5gb', '2 GB'].map((text) => memoryMb(text, 'memory')), [1024, 1024, 512, 512, 1536, 2048]);
    assert.throws(() => memoryMb('0', 'memory'), /cannot be zero/);
  });
});
