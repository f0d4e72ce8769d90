/** Where a reader of a console got to (domain/log-cursor.ts): the lines after its last two, in the newest tail. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cursorAfter, linesAfter } from '../../src/domain/log-cursor.ts';

const digest = (line: string) => `#${line}`;
const CAP = 5;

describe('log cursors', () => {
  it('gives the lines after the last two read, everything without a cursor or when they scrolled away', () => {
    const first = ['a', 'b', 'c'];
    const cursor = cursorAfter(first, undefined, digest, CAP);
    assert.deepEqual(cursor, { seen: 3, last: '#c', before: '#b' });
    assert.deepEqual(linesAfter(first, undefined, digest, CAP), first);
    assert.deepEqual(linesAfter(['a', 'b', 'c', 'd'], cursor, digest, CAP), ['d'], 'counted: the console has not filled a tail');
    assert.deepEqual(linesAfter(['b', 'c', 'd', 'e', 'f'], cursor, digest, CAP), ['d', 'e', 'f'], 'a full tail: found by the last two lines');
    assert.deepEqual(linesAfter(['a', 'b', 'c'], cursor, digest, CAP), [], 'nothing new');
    assert.deepEqual(linesAfter(['v', 'w', 'x', 'y', 'z'], cursor, digest, CAP), ['v', 'w', 'x', 'y', 'z'], 'the cursor scrolled out of the tail');
    assert.equal(cursorAfter([], cursor, digest, CAP), cursor, 'an empty read keeps the cursor');
    assert.equal(cursorAfter(['a', 'b', 'c', 'd', 'e'], undefined, digest, CAP)?.seen, -1, 'a full tail: the count is not known');
  });

  it('counts repeated lines while it can, and tells them apart by the line before after that', () => {
    assert.deepEqual(linesAfter(['same', 'same'], cursorAfter(['same'], undefined, digest, CAP), digest, CAP), ['same']);
    const cursor = { ...cursorAfter(['tick', 'tock', 'tick'], undefined, digest, CAP) as { seen: number; last: string; before: string }, seen: -1 };
    assert.deepEqual(linesAfter(['tick', 'tock', 'tick', 'tick', 'boom'], cursor, digest, CAP), ['tick', 'boom']);
  });
});
