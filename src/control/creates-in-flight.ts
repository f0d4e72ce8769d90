/**
 * Creates in flight, per app: each from before its first look at the app until
 * what it made is recorded and handed to the host (a machine's prepare submitted,
 * a volume's file and record written). Deleting an app marks it first, so later
 * creates are refused, and then waits here for the ones already past that look:
 * when it lists what to destroy, nothing of the app is still half made, and every
 * machine's prepare is queued before the destroy that follows it.
 */
export class CreatesInFlight {
  private readonly byApp = new Map<string, Set<Promise<void>>>();

  /** Runs `work` as a create in `appName`, registered before it starts. */
  async run<T>(appName: string, work: () => Promise<T>): Promise<T> {
    const { promise: done, resolve } = Promise.withResolvers<void>();
    const running = this.byApp.get(appName) ?? new Set();
    this.byApp.set(appName, running);
    running.add(done);
    try {
      return await work();
    } finally {
      resolve();
      running.delete(done);
      if (running.size === 0 && this.byApp.get(appName) === running) this.byApp.delete(appName);
    }
  }

  /** Resolves once every create of `appName` running now has ended, however it ended. */
  async settled(appName: string): Promise<void> {
    await Promise.all([...(this.byApp.get(appName) ?? [])]);
  }
}
