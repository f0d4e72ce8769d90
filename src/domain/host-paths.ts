/**
 * Error texts that reach a machine's events are read by whoever can read the
 * machine, its own guest included (through `/.fly/api`): the host's file paths
 * in them are replaced, so they reveal nothing of how the host is laid out.
 */

/** An absolute path after a space, a quote, a parenthesis or an equals sign, or at the start. */
const HOST_PATH = /(^|[\s'"(=])\/[^\s'",)]*/g;

export function withoutHostPaths(text: string): string {
  return text.replace(HOST_PATH, '$1<host path>');
}
