/**
 * The host end of a guest's `/.fly/api`: each connection hangar-init reports
 * becomes a pair of streams. One end goes to whoever serves the API, told which
 * machine it comes from; the other relays bytes over the agent channel.
 */
import { type Duplex, duplexPair } from 'node:stream';
import type { GuestApiListener, GuestIdentity } from '../driver.ts';
import type { AgentChannel } from './agent-channel.ts';

export function bridgeGuestApi(agent: AgentChannel, guest: GuestIdentity, listener: () => GuestApiListener | undefined): void {
  const relays = new Map<number, Duplex>();
  agent.on('api-open', (connection) => {
    const serve = listener();
    if (!serve) {
      agent.apiClose(connection);
      return;
    }
    const [relay, served] = duplexPair();
    relays.set(connection, relay);
    relay.on('data', (chunk: Buffer) => agent.apiSend(connection, chunk));
    relay.on('end', () => agent.apiClose(connection));
    relay.on('close', () => relays.delete(connection));
    relay.on('error', () => relay.destroy());
    serve(guest, served);
  });
  agent.on('api-data', (connection, data) => {
    const relay = relays.get(connection);
    if (relay) relay.write(data);
    else agent.apiClose(connection);
  });
  agent.on('api-close', (connection) => relays.get(connection)?.end());
  agent.on('close', () => {
    for (const relay of relays.values()) relay.destroy();
    relays.clear();
  });
}
