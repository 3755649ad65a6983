// The bookkeeping every BlobWriter shares: the writes it has started and not yet seen settle, the
// first failure among them (which fails every later write and the commit), and the end after
// which no write starts. It must never let a write start after end(), nor lose a failure.
export class WritesInFlight {
  private readonly pending = new Set<Promise<void>>();
  private failed: Error | undefined;
  private over = false;

  /** Starts a write unless the writer has ended or failed; rejects with the write's own error. */
  add(start: () => Promise<unknown>): Promise<void> {
    if (this.over) return Promise.reject(new Error('BlobWriter: write after commit or abort'));
    if (this.failed) return Promise.reject(this.failed);
    const done = start().then(
      () => undefined,
      (err: Error) => {
        this.failed ??= err;
        throw err;
      },
    );
    this.pending.add(done);
    // Settled here for the set's sake; the caller gets the rejection from `done` itself.
    void done.then(
      () => this.pending.delete(done),
      () => this.pending.delete(done),
    );
    return done;
  }

  /** No write starts after this; resolves once every started one settled, with the first failure. */
  async end(): Promise<Error | undefined> {
    this.over = true;
    await Promise.allSettled(this.pending);
    return this.failed;
  }
}
