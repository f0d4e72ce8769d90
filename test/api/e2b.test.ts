/**
 * The E2B control plane under /e2b, driven by the real `e2b` SDK against a
 * listening hangar (fake driver), with `E2B_SANDBOX_URL` at hangar's edge proxy,
 * which routes by E2B's headers. Every sandbox machine's port 49983 leads to one
 * hangar-envd on this host, so the create waits for a real agent's health check
 * and the SDK's commands run there. Keys and templates are the operator's,
 * through /hangar/v1/e2b.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Sandbox, SandboxNotFoundError } from 'e2b';
import { forkMachine } from '../../src/control/fork.ts';
import { findTemplate } from '../../src/e2b/records.ts';
import { forkingMark } from '../../src/e2b/sandbox-machine.ts';
import { destroyTemplateMachines, e2bMachines } from '../../src/e2b/sandboxes.ts';
import { sweepLeftovers } from '../../src/e2b/sweep.ts';
import { type RunningEnvd, startEnvd } from '../helpers/envd.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { freePort } from '../helpers/registry.ts';

describe('the E2B API, driven by the e2b SDK', () => {
  let t: TestHangar;
  let envd: RunningEnvd;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string };
  let otherOrg: typeof opts;
  let proxyUrl: string;
  /** A request to the proxy as the SDK sends one to envd, naming the sandbox by E2B's headers. */
  const viaProxy = (id: string, port = 49983, path = '/health') => fetch(`${proxyUrl}${path}`, { headers: { 'e2b-sandbox-id': id, 'e2b-sandbox-port': String(port) } });

  before(async () => {
    envd = await startEnvd({}, await freePort());
    const envdPort = Number(new URL(envd.url).port);
    t = await testHangar({ proxy: { domain: 'test', idleMs: 60_000, upstreams: () => ({ host: '127.0.0.1', port: envdPort }) } });
    const address = await t.hangar.app.listen({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => t.proxy.server.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(t.proxy.server.address() as AddressInfo).port}`;
    const key = await t.call('POST', '/hangar/v1/e2b/keys', { name: 'tests' });
    assert.equal(key.status, 201);
    assert.match(key.body.key, /^e2b_[0-9a-f]{40}$/);
    opts = { apiKey: key.body.key, apiUrl: `${address}/e2b`, sandboxUrl: proxyUrl };
    otherOrg = { ...opts, apiKey: (await t.call('POST', '/hangar/v1/e2b/keys', { name: 'other', org: 'acme' })).body.key };
    assert.equal((await t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'base', image: 'registry.test/hello:1', cpuCount: 1, memoryMB: 256 })).status, 201);
  });
  after(async () => {
    await t?.close();
    await envd?.stop();
  });

  it('creates a sandbox of a template, once its agent answers, and runs a command in it', async () => {
    const sandbox = await Sandbox.create('base', { ...opts, metadata: { purpose: 'test' }, timeoutMs: 60_000 });
    const machine = (await t.call('GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body;
    assert.deepEqual([machine.state, machine.config.init.exec, machine.config.guest.memory_mb], ['started', ['/.hangar/envd'], 256], 'a machine like any other');
    assert.equal(machine.checks.find((check: { name: string }) => check.name === 'envd')?.status, 'passing');
    assert.equal((await sandbox.commands.run('echo from e2b')).stdout, 'from e2b\n');
    const info = await sandbox.getInfo();
    assert.deepEqual([info.templateId, info.state, info.metadata, info.cpuCount, info.memoryMB], ['base', 'running', { purpose: 'test' }, 1, 256]);
    assert.ok(info.endAt.getTime() - info.startedAt.getTime() === 60_000);
    await sandbox.kill();
  });

  it('lists sandboxes by metadata and state, in pages, and never another org\'s', async () => {
    const a = await Sandbox.create('base', { ...opts, metadata: { team: 'x' } });
    const b = await Sandbox.create('base', { ...opts, metadata: { team: 'y' } });
    const c = await Sandbox.create('base', { ...opts, metadata: { team: 'x' } });
    const ids = async (query: Parameters<typeof Sandbox.list>[0]) => {
      const found: string[] = [];
      const paginator = Sandbox.list(query);
      while (paginator.hasNext) found.push(...(await paginator.nextItems()).map((item) => item.sandboxId));
      return found;
    };
    assert.deepEqual(await ids({ ...opts, query: { metadata: { team: 'x' } } }), [a.sandboxId, c.sandboxId]);
    assert.deepEqual(await ids({ ...opts, query: { metadata: { team: 'x' } }, limit: 1 }), [a.sandboxId, c.sandboxId], 'two pages of one');
    assert.deepEqual(await ids({ ...otherOrg }), []);
    await assert.rejects(Sandbox.getInfo(a.sandboxId, otherOrg), SandboxNotFoundError);
    assert.equal(await Sandbox.kill(a.sandboxId, otherOrg), false, 'another org cannot kill it');
    for (const sandbox of [a, b, c]) assert.equal(await Sandbox.kill(sandbox.sandboxId, opts), true);
    assert.equal(await Sandbox.kill(a.sandboxId, opts), false, 'gone');
    assert.deepEqual(await ids({ ...opts, query: { metadata: { team: 'x' } } }), []);
  });

  it('pauses (suspends) a sandbox, says so once more, and connect resumes it', async () => {
    const sandbox = await Sandbox.create('base', opts);
    assert.equal(await sandbox.pause(), true);
    assert.equal((await t.call('GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body.state, 'suspended');
    assert.equal((await sandbox.getInfo()).state, 'paused');
    assert.equal(await sandbox.pause(), false, 'already paused');
    const resumed = await Sandbox.connect(sandbox.sandboxId, opts);
    assert.equal((await resumed.getInfo()).state, 'running');
    assert.equal((await t.call('GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body.state, 'started');
    await resumed.kill();
  });

  it('ends a sandbox at its timeout: killed, or paused when it asked for that', async () => {
    const killed = await Sandbox.create('base', opts);
    const paused = await Sandbox.create('base', { ...opts, lifecycle: { onTimeout: 'pause' } });
    await killed.setTimeout(0);
    await paused.setTimeout(0);
    // The reaper runs every half second in the process that serves the API.
    assert.equal((await t.waitFor('e2b-personal', killed.sandboxId, 'destroyed')).status, 200);
    assert.equal((await t.waitFor('e2b-personal', paused.sandboxId, 'suspended')).status, 200);
    assert.equal(await killed.isRunning(), false, 'the proxy no longer reaches it');
    await assert.rejects(killed.getInfo(), SandboxNotFoundError);
    assert.equal((await paused.getInfo()).state, 'paused');
    await Sandbox.kill(paused.sandboxId, opts);
  });

  it('answers E2B\'s error bodies: a bad key, an unknown template, a bad body', async () => {
    const post = (body: unknown, key = opts.apiKey) => fetch(`${opts.apiUrl}/v2/sandboxes`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bad = await post({ templateID: 'base' }, 'e2b_' + '0'.repeat(40));
    assert.deepEqual([bad.status, await bad.json()], [401, { code: 401, message: 'invalid or missing X-API-Key' }]);
    const unknown = await post({ templateID: 'nope' });
    assert.deepEqual([unknown.status, ((await unknown.json()) as { code: number }).code], [404, 404]);
    const invalid = await post({ templateID: 'base', timeout: -5 });
    assert.deepEqual([invalid.status, ((await invalid.json()) as { code: number }).code], [400, 400]);
    const bearer = await fetch(`${opts.apiUrl}/sandboxes`, { headers: { authorization: 'Bearer test-token-123' } });
    assert.equal(bearer.status, 401, 'hangar\'s own token is not an E2B key');
    assert.deepEqual((await t.call('GET', '/v1/apps/e2b-personal/machines')).body.filter((m: { state: string }) => m.state !== 'destroyed'), [], 'nothing made by refused requests');
  });

  it('routes sandboxes through the proxy by headers or host, and answers E2B\'s 502 once one is killed or paused', async () => {
    const sandbox = await Sandbox.create('base', opts);
    assert.equal((await viaProxy(sandbox.sandboxId)).status, 204);
    const byHost = await new Promise<number>((resolve, reject) => {
      request(`${proxyUrl}/health`, { headers: { host: `49983-${sandbox.sandboxId}.test` } }, (reply) => resolve(reply.resume().statusCode ?? 0)).on('error', reject).end();
    });
    assert.equal(byHost, 204, 'getHost(port) names it as <port>-<id>.<domain>');
    await sandbox.pause();
    const paused = await viaProxy(sandbox.sandboxId);
    assert.deepEqual([paused.status, await paused.json()], [502, { sandboxId: sandbox.sandboxId, message: 'The sandbox was not found', code: 502 }]);
    assert.equal(await sandbox.isRunning(), false, 'the SDK reads the 502 as not running');
    assert.equal((await t.call('GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body.state, 'suspended', 'traffic did not wake it');
    await Sandbox.kill(sandbox.sandboxId, opts);
    assert.equal((await viaProxy(sandbox.sandboxId)).status, 502);
    assert.equal((await viaProxy('nosuchsandbox')).status, 502);
  });

  it('resumes a paused sandbox on traffic only when its lifecycle says so', async () => {
    const sandbox = await Sandbox.create('base', { ...opts, lifecycle: { onTimeout: 'pause', autoResume: true } });
    await sandbox.pause();
    assert.equal((await viaProxy(sandbox.sandboxId)).status, 204, 'woken by the request');
    assert.equal((await t.call('GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body.state, 'started');
    await sandbox.kill();
  });

  it('reaches no machine that is not a sandbox by E2B\'s routing', async () => {
    await t.app('plain');
    const machine = await t.machine('plain');
    await t.waitFor('plain', machine.id, 'started');
    assert.equal((await viaProxy(machine.id, 8080, '/')).status, 502);
  });

  it('forks a running sandbox into several, each a sandbox of its own with the parent\'s metadata', async () => {
    const parent = await Sandbox.create('base', { ...opts, metadata: { role: 'parent' } });
    const children = await parent.fork({ count: 2, timeoutMs: 120_000 });
    assert.equal(children.length, 2);
    for (const child of children) {
      assert.ok(!(child instanceof Error), String(child));
      assert.notEqual(child.sandboxId, parent.sandboxId);
      const info = await child.getInfo();
      assert.deepEqual([info.state, info.metadata, info.templateId], ['running', { role: 'parent' }, 'base']);
      assert.equal(info.endAt.getTime() - info.startedAt.getTime(), 120_000);
      assert.equal((await child.commands.run('echo child')).stdout, 'child\n');
      const told = JSON.parse(t.driver.agentInits.get(child.sandboxId) ?? '{}');
      assert.ok(told.accessToken && told.envVars === undefined, 'a token of its own; the parent\'s variables kept');
      assert.notEqual((await t.call('GET', `/v1/apps/e2b-personal/machines/${child.sandboxId}`)).body.config.metadata['e2b.token'], undefined);
    }
    const refused = await fetch(`${opts.apiUrl}/sandboxes/${parent.sandboxId}/fork`, { method: 'POST', headers: { 'x-api-key': opts.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ count: 17 }) });
    assert.equal(refused.status, 400);
    for (const each of [parent, ...children]) if (!(each instanceof Error)) await each.kill();
  });

  it('forks sandboxes of a snapshot template from one running base per org, each with its own token and variables', async () => {
    assert.equal((await t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'warm', image: 'registry.test/hello:1', cpuCount: 1, memoryMB: 256, snapshot: true })).status, 201);
    const [a, b] = await Promise.all([Sandbox.create('warm', { ...opts, envs: { WHO: 'a' } }), Sandbox.create('warm', { ...opts, envs: { WHO: 'b' } })]);
    const machines = (await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Array<{ id: string; state: string; config: { metadata: Record<string, string>; env: Record<string, string> } }>;
    const bases = machines.filter((m) => m.config.metadata['e2b.base'] === 'warm' && m.state === 'started');
    assert.equal(bases.length, 1, 'one base, booted once for both');
    const tokens = new Set<string>([bases[0]?.config.env.HANGAR_ENVD_TOKEN ?? '']);
    for (const [sandbox, who] of [[a, 'a'], [b, 'b']] as const) {
      const told = JSON.parse(t.driver.agentInits.get(sandbox.sandboxId) ?? '{}');
      assert.deepEqual(told.envVars, { WHO: who });
      tokens.add(told.accessToken);
      const info = await sandbox.getInfo();
      assert.deepEqual([info.templateId, info.state], ['warm', 'running']);
      assert.equal((await sandbox.commands.run('echo forked')).stdout, 'forked\n');
    }
    assert.equal(tokens.size, 3, 'the base and each sandbox have tokens of their own');
    const listed = await Sandbox.list({ ...opts, query: { state: ['running', 'paused'] } }).nextItems();
    assert.ok(!listed.some((item) => item.sandboxId === bases[0]?.id), 'the base is no sandbox');
    await Promise.all([a.kill(), b.kill()]);
    const c = await Sandbox.create('warm', opts);
    assert.equal((await t.call('GET', '/v1/apps/e2b-personal/machines')).body.filter((m: { config: { metadata: Record<string, string> }; state: string }) => m.config.metadata['e2b.base'] === 'warm' && m.state === 'started').length, 1, 'the same base again');
    await c.kill();
    const forksBefore = t.driver.calls.filter((call) => call.op === 'fork').length;
    const many = await Promise.all(Array.from({ length: 6 }, () => Sandbox.create('warm', opts)));
    assert.equal(new Set(many.map((sandbox) => sandbox.sandboxId)).size, 6);
    const forks = t.driver.calls.filter((call) => call.op === 'fork').length - forksBefore;
    assert.ok(forks >= 1 && forks < 6, `creates at once share forks of the base: ${forks} for 6`);
    await Promise.all(many.map((sandbox) => sandbox.kill()));
    assert.equal((await t.call('DELETE', '/hangar/v1/e2b/templates/warm')).status, 200);
    assert.deepEqual((await t.call('GET', '/v1/apps/e2b-personal/machines')).body.filter((m: { config: { metadata: Record<string, string> }; state: string }) => m.config.metadata['e2b.base'] === 'warm' && !['destroying', 'destroyed'].includes(m.state)), [], 'its base went with it');
  });
  it('keeps a started spare fork of a snapshot template\'s base, which the next create takes and no two creates share', async () => {
    type Listed = { id: string; state: string; config: { metadata: Record<string, string> } };
    const machines = async () => (await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Listed[];
    const spares = async () => (await machines()).filter((m) => m.config.metadata['e2b.spare'] === 'spared' && !['destroying', 'destroyed'].includes(m.state));
    const aSpare = async (other?: string) => {
      for (let i = 0; i < 200; i++) {
        const found = (await spares()).find((m) => m.id !== other && m.state === 'started');
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error('no spare within 5 s');
    };
    assert.equal((await t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'spared', image: 'registry.test/hello:1', cpuCount: 1, memoryMB: 256, snapshot: true })).status, 201);
    const first = await Sandbox.create('spared', opts);
    const spare = await aSpare();
    assert.ok(t.driver.agentInits.has(spare.id), 'warmed: its agent took a token of its own');
    const listed = await Sandbox.list({ ...opts, query: { state: ['running', 'paused'] } }).nextItems();
    assert.ok(!listed.some((item) => item.sandboxId === spare.id), 'a spare is no sandbox');

    const second = await Sandbox.create('spared', { ...opts, envs: { WHO: 'second' }, metadata: { n: '2' } });
    assert.equal(second.sandboxId, spare.id, 'the create took the spare');
    const told = JSON.parse(t.driver.agentInits.get(second.sandboxId) ?? '{}');
    assert.deepEqual(told.envVars, { WHO: 'second' });
    const info = await second.getInfo();
    assert.deepEqual([info.templateId, info.state, info.metadata], ['spared', 'running', { n: '2' }]);
    assert.equal((await t.call('GET', `/v1/apps/e2b-personal/machines/${second.sandboxId}`)).body.config.metadata['e2b.token'], told.accessToken, 'the create\'s token, not the warming\'s');
    assert.equal((await second.commands.run('echo spare')).stdout, 'spare\n');
    const next = await aSpare(spare.id);

    const [x, y] = await Promise.all([Sandbox.create('spared', opts), Sandbox.create('spared', opts)]);
    assert.notEqual(x.sandboxId, y.sandboxId, 'two creates at once never share a spare');
    assert.ok([x.sandboxId, y.sandboxId].includes(next.id), 'one of them took it');
    // A spare whose VM died is not taken, and is swept so that another is made.
    const dead = await aSpare(next.id);
    t.driver.crashVmm(dead.id, 'killed by the test');
    for (let i = 0; i < 200 && (await spares()).some((m) => m.id === dead.id); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(!(await spares()).some((m) => m.id === dead.id), 'the dead spare was swept');
    const z = await Sandbox.create('spared', opts);
    assert.notEqual(z.sandboxId, dead.id);
    assert.equal((await z.commands.run('echo alive')).stdout, 'alive\n');
    await aSpare(dead.id);
    await Promise.all([first, second, x, y, z].map((sandbox) => sandbox.kill()));
    assert.equal((await t.call('DELETE', '/hangar/v1/e2b/templates/spared')).status, 200);
    assert.deepEqual(await spares(), [], 'its spares went with it');
  });

  it('sweeps the spare and the base of a template that went without taking them along (a crash mid-delete), and never forks a base of the template its id named before', async () => {
    type Listed = { id: string; state: string; config: { image: string; metadata: Record<string, string> } };
    const leftovers = async () => ((await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Listed[])
      .filter((m) => (m.config.metadata['e2b.spare'] === 'orphan' || m.config.metadata['e2b.base'] === 'orphan') && !['destroying', 'destroyed'].includes(m.state));
    const until = async (what: string, done: (found: Listed[]) => boolean) => {
      for (let i = 0; i < 200; i++) {
        if (done(await leftovers())) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`${what} within 5 s`);
    };
    const isBase = (m: Listed) => m.config.metadata['e2b.base'] === 'orphan';
    const isSpare = (m: Listed) => m.config.metadata['e2b.spare'] === 'orphan';
    const template = (image: string) => t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'orphan', image, cpuCount: 1, memoryMB: 256, snapshot: true });
    const long = { ...opts, timeoutMs: 3_600_000 };
    assert.equal((await template('registry.test/hello:1')).status, 201);
    const first = await Sandbox.create('orphan', long);
    await until('a started spare', (found) => found.some((m) => isSpare(m) && m.state === 'started'));
    const [oldBase] = (await leftovers()).filter(isBase);
    const [oldSpare] = (await leftovers()).filter(isSpare);
    assert.ok(oldBase && oldSpare && (await leftovers()).length === 2, 'a base and a spare');

    // What a delete that died after its first write leaves (the record gone, its base and spare not), then the same id made again.
    assert.ok(await t.hangar.control.store.deleteE2bRecord('template', 'orphan'));
    assert.equal((await template('registry.test/hello:2')).status, 201);
    const second = await Sandbox.create('orphan', long);
    const secondMachine = (await t.call('GET', `/v1/apps/e2b-personal/machines/${second.sandboxId}`)).body as Listed;
    assert.equal(secondMachine.config.image.split('@')[0], 'registry.test/hello:2', 'neither the old spare nor a fork of the old base');
    await until('the old spare swept', (found) => !found.some((m) => m.id === oldSpare.id));
    const newBase = (await leftovers()).find((m) => isBase(m) && m.id !== oldBase.id);
    assert.ok(newBase, 'a new base');
    assert.ok((await leftovers()).some((m) => m.id === oldBase.id), 'a base only once it has been left alone a while: a snapshot\'s is made before its template');

    // A sweep six minutes on (a base is swept only once left alone that long).
    const control = t.hangar.control;
    const later = async () => sweepLeftovers({ ...control, clock: { now: () => control.clock.now() + 6 * 60_000 } }, await e2bMachines(control));
    assert.ok((await later()).includes(oldBase.id), 'the old base is swept');
    assert.ok((await leftovers()).some((m) => m.id === newBase.id), 'the new template\'s base is kept');
    assert.ok(await control.store.deleteE2bRecord('template', 'orphan'));
    await later();
    await until('every leftover swept', (found) => found.length === 0);
    for (const sandbox of [first, second]) {
      assert.equal((await sandbox.commands.run('echo kept')).stdout, 'kept\n', 'a sandbox is no leftover: the sweep leaves it');
      await sandbox.kill();
    }
  });
  it('leaves a template made again under its id its own base and spare, when a delete of the one before reaches them late', async () => {
    type Listed = { id: string; state: string; config: { metadata: Record<string, string> } };
    const live = async () => ((await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Listed[])
      .filter((m) => (m.config.metadata['e2b.spare'] === 'again' || m.config.metadata['e2b.base'] === 'again') && !['destroying', 'destroyed'].includes(m.state));
    const withSpare = async (others: string[] = []) => {
      for (let i = 0; i < 200; i++) {
        const found = await live();
        if (found.some((m) => m.config.metadata['e2b.spare'] === 'again' && m.state === 'started' && !others.includes(m.id))) return found;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error('no started spare within 5 s');
    };
    const template = () => t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'again', image: 'registry.test/hello:1', cpuCount: 1, memoryMB: 256, snapshot: true });
    assert.equal((await template()).status, 201);
    const first = await Sandbox.create('again', opts);
    const before = (await withSpare()).map((m) => m.id);
    // A delete of this template: its record goes; before it reaches the machines, the id is made again and used.
    const control = t.hangar.control;
    const deleted = await findTemplate(control.store, 'again');
    assert.ok(deleted && (await control.store.deleteE2bRecord('template', 'again')));
    await new Promise((resolve) => setTimeout(resolve, 5)); // a later createdAt
    assert.equal((await template()).status, 201);
    const second = await Sandbox.create('again', opts);
    const after = (await withSpare(before)).map((m) => m.id).filter((id) => !before.includes(id));
    assert.equal(after.length, 2, 'the new template\'s base and spare');
    await destroyTemplateMachines(control, deleted);
    assert.deepEqual((await live()).map((m) => m.id).sort(), after.sort(), 'the old ones went, the new ones stay');
    await Promise.all([first.kill(), second.kill()]);
    assert.equal((await t.call('DELETE', '/hangar/v1/e2b/templates/again')).status, 200);
    assert.deepEqual(await live(), []);
  });
  it('shows a fork of a base under way as neither a second base nor a sandbox, and sweeps one a process left', async () => {
    type Listed = { id: string; state: string; config: { metadata: Record<string, string> } };
    const live = async () => ((await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Listed[]).filter((m) => !['destroying', 'destroyed'].includes(m.state));
    assert.equal((await t.call('POST', '/hangar/v1/e2b/templates', { templateID: 'slowfork', image: 'registry.test/hello:1', cpuCount: 1, memoryMB: 256, snapshot: true })).status, 201);
    const suspendMs = t.driver.delays.suspendMs;
    t.driver.delays.suspendMs = 300; // each fork saves its parent this long
    const seen = { bases: 0, sandboxes: 0, spare: false };
    try {
      let making = true;
      const made = Sandbox.create('slowfork', opts).finally(() => { making = false; });
      // The create's fork, then the spare's (the refill after it).
      while (making || !seen.spare) {
        const machines = await live();
        seen.bases = Math.max(seen.bases, machines.filter((m) => m.config.metadata['e2b.base'] === 'slowfork').length);
        seen.sandboxes = Math.max(seen.sandboxes, machines.filter((m) => m.config.metadata['e2b.template'] === 'slowfork').length);
        seen.spare = machines.some((m) => m.config.metadata['e2b.spare'] === 'slowfork' && m.state === 'started');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await (await made).kill();
    } finally {
      t.driver.delays.suspendMs = suspendMs;
    }
    assert.deepEqual(seen, { bases: 1, sandboxes: 1, spare: true }, 'one base and one sandbox, whatever the moment');

    // A fork whose maker went away: swept once left alone a while, and not before.
    const control = t.hangar.control;
    const base = (await live()).find((m) => m.config.metadata['e2b.base'] === 'slowfork') as Listed;
    const [left] = await forkMachine(control, 'e2b-personal', base.id, { count: 1 }, forkingMark('slowfork'));
    const sweep = async (aheadMs: number) => sweepLeftovers({ ...control, clock: { now: () => control.clock.now() + aheadMs } }, await e2bMachines(control));
    assert.ok(!(await sweep(0)).includes(left?.id as string), 'a fork under way is left to its maker');
    assert.ok(!(await sweep(6 * 60_000)).includes(left?.id as string), 'nor while a slow host may still be forking it');
    assert.ok((await sweep(16 * 60_000)).includes(left?.id as string), 'one left alone is swept');
    assert.equal((await t.call('DELETE', '/hangar/v1/e2b/templates/slowfork')).status, 200);
  });
  it('deletes a template whose stored record no longer reads as one', async () => {
    await t.hangar.control.store.insertE2bRecord('template', 'unreadable', { templateID: 'unreadable', image: 42 });
    assert.equal((await t.call('DELETE', '/hangar/v1/e2b/templates/unreadable')).status, 200);
    assert.equal(await t.hangar.control.store.getE2bRecord('template', 'unreadable'), undefined);
  });
  it('keeps a snapshot\'s base while the snapshot is made, its template not yet written, however long its suspend takes', async () => {
    const source = await Sandbox.create('base', opts);
    const suspendMs = t.driver.delays.suspendMs;
    t.driver.delays.suspendMs = 1_500; // three reaper passes, and more
    try {
      const snapshot = await source.createSnapshot();
      const made = await Sandbox.create(snapshot.snapshotId, opts);
      assert.equal((await made.commands.run('echo from the snapshot')).stdout, 'from the snapshot\n');
      await made.kill();
      assert.equal(await Sandbox.deleteSnapshot(snapshot.snapshotId, opts), true);
    } finally {
      t.driver.delays.suspendMs = suspendMs;
      await source.kill();
    }
  });

  it('takes snapshots of a sandbox, lists them, creates sandboxes of them by id or name, and deletes them', async () => {
    const source = await Sandbox.create('base', { ...opts, metadata: { role: 'source' } });
    const plain = await source.createSnapshot();
    assert.match(plain.snapshotId, /^snap-[0-9a-f]{16}:default$/);
    const named = await source.createSnapshot({ name: 'my-snap' });
    assert.deepEqual([named.snapshotId, named.names], ['personal/my-snap:default', ['personal/my-snap:default']]);
    const machines = async () => (await t.call('GET', '/v1/apps/e2b-personal/machines')).body as Array<{ id: string; state: string; config: { metadata: Record<string, string> } }>;
    const bases = (await machines()).filter((m) => m.config.metadata['e2b.base']?.startsWith('snap-'));
    assert.deepEqual(bases.map((m) => m.state), ['suspended', 'suspended'], 'each snapshot is a suspended fork of the sandbox');
    assert.equal((await source.getInfo()).state, 'running', 'the sandbox runs on');

    const ids = async (query: Parameters<typeof Sandbox.listSnapshots>[0]) => (await Sandbox.listSnapshots(query).nextItems()).map((item) => item.snapshotId);
    assert.deepEqual(await ids(opts), [plain.snapshotId, named.snapshotId]);
    assert.deepEqual(await ids({ ...opts, sandboxId: source.sandboxId }), [plain.snapshotId, named.snapshotId]);
    assert.deepEqual(await ids({ ...opts, name: 'my-snap' }), [named.snapshotId]);
    assert.deepEqual(await ids({ ...opts, name: 'no-such-snap' }), []);
    assert.deepEqual(await ids(otherOrg), [], 'another org sees none');
    await assert.rejects(Sandbox.create(named.snapshotId, otherOrg), /not found/, 'nor uses one');
    assert.equal(await Sandbox.deleteSnapshot(named.snapshotId, otherOrg), false, 'nor deletes one');

    await source.pause();
    const ofPaused = await source.createSnapshot();
    assert.equal((await source.getInfo()).state, 'paused', 'a paused sandbox is resumed for its snapshot, and paused again');
    assert.equal(await Sandbox.deleteSnapshot(ofPaused.snapshotId, opts), true);
    const badName = await fetch(`${opts.apiUrl}/sandboxes/${source.sandboxId}/snapshots`, { method: 'POST', headers: { 'x-api-key': opts.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: '../Etc' }) });
    assert.deepEqual([badName.status, ((await badName.json()) as { code: number }).code], [400, 400]);

    await source.kill();
    for (const ref of [plain.snapshotId, named.snapshotId, 'my-snap']) {
      const sandbox = await Sandbox.create(ref, { ...opts, metadata: { from: 'snapshot' } });
      const info = await sandbox.getInfo();
      assert.deepEqual([info.state, info.metadata], ['running', { from: 'snapshot' }], `${ref} outlives its sandbox`);
      assert.equal((await sandbox.commands.run('echo restored')).stdout, 'restored\n');
      await sandbox.kill();
    }

    const again = await Sandbox.create('base', opts);
    const renamed = await again.createSnapshot({ name: 'my-snap' });
    assert.equal(renamed.snapshotId, named.snapshotId, 'a name taken again moves to the new snapshot');
    assert.deepEqual((await Sandbox.listSnapshots({ ...opts, sandboxId: again.sandboxId }).nextItems()).map((item) => item.snapshotId), [named.snapshotId]);
    assert.deepEqual(await ids(opts), [plain.snapshotId, named.snapshotId], 'the old one of that name is gone');
    await again.kill();

    assert.equal(await Sandbox.deleteSnapshot(plain.snapshotId, opts), true);
    assert.equal(await Sandbox.deleteSnapshot(plain.snapshotId, opts), false, 'not found the second time');
    assert.equal(await Sandbox.deleteSnapshot(named.snapshotId, opts), true);
    await assert.rejects(Sandbox.deleteSnapshot('base', opts), /server/, 'a template of the server is not an org\'s to delete');
    assert.deepEqual((await machines()).filter((m) => m.config.metadata['e2b.base']?.startsWith('snap-') && !['destroying', 'destroyed'].includes(m.state)), [], 'their bases went with them');
  });
  it('gives a sandbox\'s metrics from its agent\'s samples, on hangar\'s clock, and refuses what a hostile agent prints', async () => {
    const sandbox = await Sandbox.create('base', opts);
    const start = new Date();
    const hourAgo = Date.now() - 3_600_000;
    // An agent whose clock is an hour behind: its latest sample is hangar's now.
    t.driver.agentMetrics = () => JSON.stringify({ now: hourAgo, samples: [{ ts: hourAgo - 5000, cpuCount: 2, cpuUsedPct: 12.5, memUsed: 100, memTotal: 200, memCache: 10, diskUsed: 300, diskTotal: 400 }, { ts: hourAgo, cpuCount: 2, cpuUsedPct: 25, memUsed: 110, memTotal: 200, memCache: 10, diskUsed: 300, diskTotal: 400 }] });
    const metrics = await sandbox.getMetrics();
    assert.equal(metrics.length, 1, 'only samples since the sandbox started');
    assert.deepEqual([metrics[0]?.cpuCount, metrics[0]?.cpuUsedPct, metrics[0]?.memUsed, metrics[0]?.diskTotal], [2, 25, 110, 400]);
    assert.ok(Math.abs((metrics[0]?.timestamp.getTime() ?? 0) - start.getTime()) < 2000, 'moved onto hangar\'s clock');
    assert.deepEqual(await sandbox.getMetrics({ start: new Date(start.getTime() - 3_600_000), end: new Date(start.getTime() - 1_800_000) }), [], 'none before it existed');
    for (const printed of ['not json', JSON.stringify({ now: 1, samples: [{ ts: 1, cpuCount: -1 }] }), JSON.stringify({ now: 1, samples: new Array(5000).fill(null) })]) {
      t.driver.agentMetrics = () => printed;
      await assert.rejects(sandbox.getMetrics(), /gave no metrics/);
    }
    await sandbox.pause();
    assert.deepEqual(await sandbox.getMetrics(), [], 'a paused sandbox has none to give');
    await Sandbox.kill(sandbox.sandboxId, opts);
  });
});
