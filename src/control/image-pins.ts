/**
 * Tags pinned to digests by the process that takes a create or an update (an API
 * replica; see ControlDeps.pinTag), so that the machine runs the image its tag
 * named when it was asked for, wherever the tag moves.
 */
import { type ImageRef, isLocalImage } from '../domain/image-ref.ts';
import type { ControlDeps } from './ports.ts';

/** How long a create or an update waits for the registry to pin its tag before it leaves the tag to its host. */
const PIN_WAIT_MS = 5_000;

/**
 * `ref` with the digest its tag names now, where this process pins tags (an API
 * replica): placed on a host that holds that digest, a create need not wait for
 * the host (see machines.ts, preparedAlready). The tag is kept beside it, as
 * Fly's `image_ref` shows both. A registry that does not answer in time, or
 * refuses, leaves the tag to the host's prepare, which resolves it anyway and
 * reports what went wrong.
 */
export async function pinned(deps: ControlDeps, ref: ImageRef): Promise<ImageRef> {
  if (!deps.pinTag || ref.digest || !ref.tag || isLocalImage(ref)) return ref;
  try {
    return { ...ref, digest: await deps.pinTag(ref, AbortSignal.timeout(PIN_WAIT_MS)) };
  } catch (error) {
    deps.log.debug({ err: error, image: `${ref.registry}/${ref.repository}:${ref.tag}` }, 'the registry did not pin the tag; the host will resolve it');
    return ref;
  }
}
