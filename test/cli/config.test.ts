import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliWith } from '../helpers/cli-run.ts';

describe('hangar config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cli = cliWith({});

  it('validates a fly.toml, warning of unknown keys by line, and prints each group\'s machine config', async () => {
    const path = join(dir, 'fly.toml');
    writeFileSync(join(dir, 'app.conf'), 'port=8080\n');
    writeFileSync(path, 'app = "web"\nprimary_region = "fra"\nsparkle = true\n[build]\n  image = "registry.test/web:1"\n'
      + '[http_service]\n  internal_port = 8080\n  auto_stop_machines = "suspend"\n[[files]]\n  guest_path = "/etc/app.conf"\n  local_path = "app.conf"\n');
    const valid = await cli('config', 'validate', '-c', path);
    assert.equal(valid.code, 0, valid.err);
    assert.match(valid.out, /is valid: app web, process group app/);
    assert.match(valid.err, /fly\.toml:3: sparkle is not a key hangar knows/);
    const shown = await cli('config', 'machines', '-c', path);
    assert.equal(shown.code, 0, shown.err);
    const { app } = JSON.parse(shown.out);
    assert.equal(app.image, 'registry.test/web:1');
    assert.equal(app.services[0].autostop, 'suspend');
    assert.deepEqual(app.files, [{ guest_path: '/etc/app.conf', raw_value: Buffer.from('port=8080\n').toString('base64') }], 'local_path read beside the fly.toml');
  });

  it('fails with the line of what is wrong, or says the file is missing', async () => {
    const path = join(dir, 'bad.toml');
    writeFileSync(path, 'app = "web"\n[http_service]\n  internal_port = -1\n');
    const bad = await cli('config', 'validate', '-c', path);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /bad\.toml:3: http_service\.internal_port must be/);
    const missing = await cli('config', 'validate', '-c', join(dir, 'nope.toml'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no such file/);
  });
});
