/**
 * The machine config is a schema: every field fly-go decodes is typed, a value of
 * the wrong type anywhere is refused naming the field, and what is stored passes
 * the schema again (so Fly clients can always decode a machine list).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { normalizeConfig } from '../../src/domain/config.ts';
import { MachineConfigSchema } from '../../src/domain/config-schema.ts';

interface Node { type?: string; properties?: Record<string, Node>; patternProperties?: Record<string, Node>; items?: Node; anyOf?: Node[]; minimum?: number; const?: unknown }

/** Values fly-go cannot decode into a field of this schema. */
function wrongValues(node: Node): unknown[] {
  if (node.anyOf) {
    const types = new Set(node.anyOf.flatMap((n) => (n.anyOf ? n.anyOf : [n])).map((n) => n.type ?? typeof n.const));
    return [{ x: 1 }, ...(types.has('string') ? [] : ['text']), ...(types.has('integer') || types.has('number') ? [] : [7])];
  }
  switch (node.type) {
    case 'boolean': return ['yes', 1, {}];
    case 'integer': return ['1', 1.5, 1e308, true, ...(node.minimum === 0 ? [-1] : [])];
    case 'number': return ['1', true];
    case 'string': return [1, true, ['a'], {}];
    case 'array': return ['x', { a: 1 }, 3];
    case 'object': return ['x', ['a'], 3];
    default: return [];
  }
}

/** Every field path of the schema, with its schema: `services[0].checks[0].headers[0].values`. */
function fields(node: Node, path: Array<string | number> = []): Array<{ path: Array<string | number>; node: Node }> {
  const out: Array<{ path: Array<string | number>; node: Node }> = [];
  for (const [name, sub] of Object.entries(node.properties ?? {})) {
    out.push({ path: [...path, name], node: sub }, ...fields(sub, [...path, name]));
  }
  for (const sub of Object.values(node.patternProperties ?? {})) {
    out.push({ path: [...path, 'k'], node: sub }, ...fields(sub, [...path, 'k']));
  }
  if (node.items) out.push({ path: [...path, 0], node: node.items }, ...fields(node.items, [...path, 0]));
  for (const variant of node.anyOf ?? []) if (variant.type === 'object') out.push(...fields(variant, path));
  return out;
}

/** A config holding `value` at `path` and nothing else but the image. */
function configWith(path: Array<string | number>, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = { image: 'registry.test/app:1' };
  let at: Record<string | number, unknown> = root;
  path.forEach((key, i) => {
    const next = path[i + 1];
    if (i === path.length - 1) at[key] = value;
    else at = (at[key] ??= typeof next === 'number' ? [] : {}) as Record<string | number, unknown>;
  });
  return root;
}

const label = (path: Array<string | number>) => `config${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;

describe('the machine config schema', () => {
  it('refuses a value of the wrong type in any field fly-go decodes, naming the field', () => {
    const all = fields(MachineConfigSchema as unknown as Node);
    assert.ok(all.length > 150, `only ${all.length} fields walked`);
    const missed: string[] = [];
    let tried = 0;
    for (const { path, node } of all) {
      for (const value of wrongValues(node)) {
        tried++;
        try {
          normalizeConfig(configWith(path, value));
          missed.push(`${label(path)} = ${JSON.stringify(value)} accepted`);
        } catch (error) {
          const message = (error as Error).message;
          if (!message.startsWith(label(path))) missed.push(`${label(path)} = ${JSON.stringify(value)}: ${message}`);
        }
      }
    }
    assert.ok(tried > 400, `only ${tried} values tried`);
    assert.deepEqual(missed, []);
  });

  it('refuses the values reported against hangar, naming the field', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ init: { tty: 'yes' } }, /config\.init\.tty must be true or false/],
      [{ rootfs: { size_gb: -1 } }, /config\.rootfs\.size_gb must be >= 0/],
      [{ guest: { gpus: 1e308 } }, /config\.guest\.gpus must be <=/],
      [{ processes: 'x' }, /config\.processes must be a list/],
      [{ Image: 'other:1' }, /config\.Image \(write it as "image"\)/],
      [{ services: [{ internal_port: 80, Autostart: true }] }, /config\.services\[0\]\.Autostart/],
      [{ guest: { cpus: 1, CPUs: 2 } }, /config\.guest\.CPUs \(write it as "cpus"\)/],
      [{ checks: { web: { type: 'http', port: 80, headers: { 'X-A': 'b' } } } }, /config\.checks\.web\.headers must be a list/],
      [{ containers: [{ name: 'a', image: 'b' }] }, /config\.containers is not supported/],
    ];
    for (const [config, message] of cases) assert.throws(() => normalizeConfig({ image: 'registry.test/app:1', ...config }), message, JSON.stringify(config));
  });

  it('accepts a config as fly-go sends it, with nulls for unset fields, and stores a config that passes the schema again', () => {
    const sent = {
      image: 'registry.test/app:1',
      init: { exec: null, entrypoint: null, cmd: ['serve'], tty: false, swap_size_mb: null, kernel_args: null },
      guest: { cpu_kind: 'shared', cpus: 2, memory_mb: 512, kernel_args: null, persist_rootfs: 2 },
      env: { PORT: '8080' },
      metadata: { fly_process_group: 'app' },
      services: [{
        protocol: 'tcp', internal_port: 8080, autostop: 'suspend', autostart: true, min_machines_running: 0,
        ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['tls', 'http'] }],
        checks: [{ type: 'http', interval: 15_000_000_000, timeout: '2s', grace_period: null, method: 'GET', path: '/health', headers: [{ name: 'X-Probe', values: ['1'] }] }],
        concurrency: { type: 'requests', hard_limit: 25, soft_limit: 20 },
        force_instance_key: null,
      }],
      checks: { alive: { type: 'tcp', port: 8080, interval: '30s', kind: 'readiness' } },
      restart: { policy: 'on-failure', max_retries: 3 },
      stop_config: { timeout: '10s', signal: 'SIGTERM' },
      rootfs: { persist: 'restart', size_gb: 0 },
      dns: { skip_registration: true, nameservers: null },
      files: null,
      schedule: '',
      auto_destroy: false,
      some_future_field: { nested: [1, null] },
    };
    const stored = normalizeConfig(sent);
    assert.ok(Value.Check(MachineConfigSchema, stored), JSON.stringify([...Value.Errors(MachineConfigSchema, stored)].slice(0, 3)));
    assert.equal(stored.services?.[0]?.autostop, 'suspend');
    assert.equal(stored.services?.[0]?.checks?.[0]?.interval, '15s');
    assert.equal('force_instance_key' in (stored.services?.[0] ?? {}), false, 'null means unset');
    assert.equal('files' in stored, false);
    assert.deepEqual((stored as Record<string, unknown>).some_future_field, { nested: [1, null] }, 'unknown fields pass through as sent');
    assert.deepEqual(normalizeConfig(JSON.parse(JSON.stringify(stored))), stored, 'a stored config sent back is unchanged');
  });

  it('takes unknown fields named like Object.prototype members as unknown fields, nulls and all', () => {
    const sent = JSON.parse('{"image":"registry.test/app:1","constructor":null,"toString":{"a":null},"env":{"valueOf":"v"},"metadata":{"__proto__":"p"}}');
    const stored = normalizeConfig(sent) as Record<string, unknown>;
    assert.equal(Object.getOwnPropertyDescriptor(stored, 'constructor')?.value, null, 'a null in an unknown field is kept');
    assert.deepEqual(Object.getOwnPropertyDescriptor(stored, 'toString')?.value, { a: null });
    assert.deepEqual(stored.env, { valueOf: 'v' });
    // A key JSON.parse keeps as its own (the API's parser refuses it; a stored config may hold it) stays a key.
    assert.equal(Object.getOwnPropertyDescriptor(stored.metadata, '__proto__')?.value, 'p');
    assert.equal(Object.getPrototypeOf(stored.metadata), Object.prototype);
  });

  it('refuses health checks an HTTP request could not carry, and intervals under a second', () => {
    const check = (fields: Record<string, unknown>) => ({ checks: { web: { type: 'http', port: 80, ...fields } } });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [check({ path: '/a b' }), /config\.checks\.web\.path/],
      [check({ path: '/a\r\nX-Injected: 1' }), /config\.checks\.web\.path/],
      [check({ path: '/a\0' }), /config\.checks\.web\.path/],
      [check({ path: '/caf\u00e9' }), /config\.checks\.web\.path/],
      [check({ path: 'no-slash' }), /config\.checks\.web\.path/],
      [check({ method: 'GET /x' }), /config\.checks\.web\.method/],
      [check({ method: 'G\u00c9T' }), /config\.checks\.web\.method/],
      [check({ headers: [{ name: 'X A', values: ['1'] }] }), /config\.checks\.web\.headers\[0\]\.name/],
      [check({ headers: [{ name: 'X-A', values: ['1\r\n2'] }] }), /config\.checks\.web\.headers\[0\]\.values/],
      [check({ headers: [{ name: 'X-A', values: ['\u00ff'] }] }), /config\.checks\.web\.headers\[0\]\.values/],
      [check({ interval: '100ms' }), /config\.checks\.web\.interval must be at least 1s/],
      [check({ interval: 0 }), /config\.checks\.web\.interval must be at least 1s/],
      [check({ timeout: '0s' }), /config\.checks\.web\.timeout must be at least/],
      [check({ interval: '1000h' }), /config\.checks\.web\.interval must be at most 24h/],
      [{ services: [{ internal_port: 80, checks: [{ type: 'http', path: '/ok', method: 'GET\n' }] }] }, /config\.services\[0\]\.checks\[0\]\.method/],
    ];
    for (const [config, message] of cases) assert.throws(() => normalizeConfig({ image: 'registry.test/app:1', ...config }), message, JSON.stringify(config));
  });

  it('bounds the config: its size, services, port ranges, files and checks', () => {
    const image = 'registry.test/app:1';
    assert.throws(() => normalizeConfig({ image, metadata: { big: 'x'.repeat(300 * 1024) } }), /config is larger than 256 KiB/);
    assert.throws(() => normalizeConfig({ image, services: Array.from({ length: 33 }, () => ({ internal_port: 80 })) }), /more than 32 services/);
    assert.throws(() => normalizeConfig({ image, services: [{ internal_port: 80, ports: [{ start_port: 1000, end_port: 5000 }] }] }), /at most 100 ports/);
    assert.throws(() => normalizeConfig({ image, checks: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`c${i}`, { type: 'tcp', port: 80 }])) }), /at most 32 are allowed/);
    assert.throws(() => normalizeConfig({ image, env: { 'A=B': '1' } }), /not a variable name/);
    assert.throws(() => normalizeConfig({ image, init: { cmd: ['a\0b'] } }), /config\.init\.cmd must not hold NUL/);
  });
});
