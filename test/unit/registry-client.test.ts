/** What hangar reads of a registry's answers: never more than it needs, whatever the registry sends. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import { RegistryClient } from '../../src/image/registry-client.ts';

describe('a hostile registry', () => {
  let server: Server;
  let host = '';
  before(async () => {
    server = createServer((request, response) => {
      const megabyte = Buffer.alloc(1 << 20, 'x');
      if (request.url === '/v2/big/manifests/declared') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 << 20) });
        response.end();
        return;
      }
      if (request.url === '/v2/big/manifests/streamed') {
        response.writeHead(200, { 'content-type': 'application/json' });
        let sent = 0;
        const more = () => {
          while (sent < 64 && response.write(megabyte)) sent++;
          if (sent >= 64) response.end();
          else response.once('drain', () => { sent++; more(); });
        };
        more();
        return;
      }
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end(Buffer.alloc(8 << 20, 'e'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = new RegistryClient({ timeoutMs: 10_000 });

  it('refuses a manifest said to be larger than any manifest is, without reading it', async () => {
    await assert.rejects(client.resolve(parseImageRef(`${host}/big:declared`)), /67108864 bytes, more than the 4194304 read/);
  });

  it('stops reading a manifest that goes on past the limit', async () => {
    await assert.rejects(client.resolve(parseImageRef(`${host}/big:streamed`)), /more than the 4194304 bytes read/);
  });

  it('reads a few kilobytes of an error answer, and says what it was', async () => {
    const error = await client.resolve(parseImageRef(`${host}/missing:1`)).then(() => undefined, (caught: Error) => caught);
    assert.match(String(error?.message), /answered 404: e{200}$/);
  });
});
