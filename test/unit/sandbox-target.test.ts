import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { sandboxTargetOf } from '../../src/proxy/sandbox-target.ts';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('E2B sandbox targets', () => {
  it('reads the headers on localhost, IP and sandbox.<domain> hosts only', () => {
    const named = { 'e2b-sandbox-id': 'abc123', 'e2b-sandbox-port': '49983' };
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'sandbox.example.test', 'SANDBOX.Example.Test:443']) {
      assert.deepEqual(sandboxTargetOf(req({ host, ...named }), 'example.test'), { sandboxId: 'abc123', port: 49983 }, host);
    }
    assert.equal(sandboxTargetOf(req({ host: 'app.example.test', ...named }), 'example.test'), undefined, 'an app\'s host is the app\'s');
    assert.equal(sandboxTargetOf(req({ host: 'localhost', 'e2b-sandbox-id': 'abc' }), 'example.test'), undefined, 'both headers');
  });

  it('reads <port>-<id>.<domain> hosts', () => {
    assert.deepEqual(sandboxTargetOf(req({ host: '8080-abc123.example.test:80' }), 'example.test'), { sandboxId: 'abc123', port: 8080 });
    assert.equal(sandboxTargetOf(req({ host: '8080-abc123.other.test' }), 'example.test'), undefined);
    assert.equal(sandboxTargetOf(req({ host: 'x.8080-abc123.example.test' }), 'example.test'), undefined);
  });

  it('takes no id or port that is not one', () => {
    for (const [id, port] of [['ABC', '1'], ['a/b', '1'], ['a'.repeat(65), '1'], ['abc', '0'], ['abc', '65536'], ['abc', '1e3'], ['abc', '-1'], ['', '1']]) {
      assert.equal(sandboxTargetOf(req({ host: 'localhost', 'e2b-sandbox-id': id as string, 'e2b-sandbox-port': port as string }), 'example.test'), undefined, `${id}:${port}`);
    }
    assert.equal(sandboxTargetOf(req({ host: '99999-abc.example.test' }), 'example.test'), undefined);
    assert.equal(sandboxTargetOf(req({}), 'example.test'), undefined, 'no Host');
  });
});
