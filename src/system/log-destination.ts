/**
 * Where the server's log lines go: a file descriptor (stdout), written directly.
 * A line that cannot be written — a full disk, a closed pipe, a pipe nobody reads
 * fast enough — is dropped and counted, and the server carries on: losing log
 * lines is better than losing the server. The next line that gets through is
 * preceded by one saying how many were lost.
 */
import { writeSync } from 'node:fs';

export interface LogDestination {
  write(line: string): void;
  /** Lines dropped since start. */
  dropped(): number;
}

export function resilientDestination(fd: number): LogDestination {
  let dropped = 0;
  let reported = 0;
  const put = (text: string): boolean => {
    const bytes = Buffer.from(text);
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
      return true;
    } catch {
      return false;
    }
  };
  return {
    write(line) {
      if (dropped > reported) {
        const note = `${JSON.stringify({ level: 40, time: Date.now(), msg: `log output failed: ${dropped - reported} lines were lost` })}\n`;
        if (!put(note)) {
          dropped++;
          return;
        }
        reported = dropped;
      }
      if (!put(line)) dropped++;
    },
    dropped: () => dropped,
  };
}
