/**
 * Where a reader of a machine's console got to, for `fly logs`' polling. The
 * console keeps lines with no numbers or times, so a cursor remembers how many
 * lines the console held when read (while it held fewer than a whole tail, that
 * count is exact) and the last two lines read (as digests). The next read takes the
 * lines past that count when the count still fits; otherwise those after where the
 * last two stand in the newest tail. Lines that scrolled out of the tail since, or
 * two identical pairs, can then make a read repeat or miss lines: polling is a best
 * effort, as Fly's is.
 */
export interface LineCursor {
  /** Lines the console held when read, when it held fewer than a whole tail; -1 when not known. */
  seen: number;
  /** Digest of the last line read, and of the one before it ('' when none). */
  last: string;
  before: string;
}

/** The lines of `tail` (read `cap` lines at most) after the cursor; all of them when it is not found there. */
export function linesAfter(tail: readonly string[], cursor: LineCursor | undefined, digest: (line: string) => string, cap: number): string[] {
  if (!cursor) return [...tail];
  const counted = cursor.seen > 0 && tail.length < cap && tail.length >= cursor.seen && digest(tail[cursor.seen - 1] as string) === cursor.last;
  if (counted) return tail.slice(cursor.seen);
  for (let at = tail.length - 1; at >= 0; at--) {
    if (digest(tail[at] as string) !== cursor.last) continue;
    if (cursor.before !== '' && at > 0 && digest(tail[at - 1] as string) !== cursor.before) continue;
    return tail.slice(at + 1);
  }
  return [...tail];
}

/** The cursor after reading `tail` (`cap` lines at most; unchanged when it holds no line). */
export function cursorAfter(tail: readonly string[], previous: LineCursor | undefined, digest: (line: string) => string, cap: number): LineCursor | undefined {
  if (tail.length === 0) return previous;
  return { seen: tail.length < cap ? tail.length : -1, last: digest(tail.at(-1) as string), before: tail.length > 1 ? digest(tail.at(-2) as string) : '' };
}
