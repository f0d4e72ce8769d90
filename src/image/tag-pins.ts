/**
 * How an API replica pins a create's tag: it asks the registry for the manifest the
 * tag names now (the linux/amd64 one of an index), as a host's prepare would, and
 * keeps its digest. Replicas ask registries only this; they fetch no layers.
 *
 * Creates of one tag share the registry's answers, never one asked before they
 * came: while a request for the tag is out, the creates that arrive wait together
 * for the next one, sent once the first is answered. So each create's digest is
 * what the registry said after the create arrived (a tag pushed before a create
 * is seen by it), and a burst of creates of one tag costs the registry two
 * requests, not one each.
 */
import type { TagPins } from '../domain/ports.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import { RegistryClient } from './registry-client.ts';
import { untilAborted } from './until-aborted.ts';

/** How long one request for a tag (its token and an index's second manifest included) may take in all. */
const REQUEST_DEADLINE_MS = 10_000;

/** One tag's requests: the one out, and the one the creates since then wait for. */
interface Line {
  out?: Promise<string>;
  next?: Promise<string>;
}

export function registryTagPins(client: RegistryClient = new RegistryClient()): TagPins {
  const lines = new Map<string, Line>();
  const ask = (ref: ImageRef): Promise<string> => {
    const key = `${ref.registry}/${ref.repository}:${ref.tag}`;
    const line = lines.get(key) ?? {};
    lines.set(key, line);
    const send = (): Promise<string> => {
      const out = client.resolve({ ...ref, digest: '' }, AbortSignal.timeout(REQUEST_DEADLINE_MS)).then((resolved) => resolved.digest);
      line.out = out;
      out.finally(() => {
        if (line.out === out) line.out = undefined;
        if (!line.out && !line.next && lines.get(key) === line) lines.delete(key);
      }).catch(() => undefined);
      return out;
    };
    // Not sent yet, so asked after this create came: it shares it.
    if (line.next) return line.next;
    if (!line.out) return send();
    const next = line.out.catch(() => undefined).then(() => {
      // Sent from here on: whoever comes later waits for the request after this one.
      line.next = undefined;
      return send();
    });
    line.next = next;
    return next;
  };
  return async (ref, signal) => {
    signal.throwIfAborted();
    return untilAborted(ask(ref), signal);
  };
}
