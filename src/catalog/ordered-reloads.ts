// Orders the reloads of one key of a replicated catalog: one at a time, each started after the one
// before it ended, so a reload that read an older state can never install it over a newer one (two
// reloads of a key running side by side finish in any order: a notification's reload, started
// before a later commit, would land after the writer's own reload of that commit). A call made
// while a reload of the key waits to start joins that one: it has not read yet, so it will see
// everything committed before the call. It must never run two reloads of one key at once, and
// never resolve a call before a reload that started after the call has ended.

export class OrderedReloads {
  private readonly keys = new Map<string, { tail: Promise<void>; waiting: Promise<void> | undefined }>();

  /**
   * Runs `load` (the read and install of `key`) once the reload of it in progress, if any, has
   * ended; resolves or rejects with the reload that starts after this call (joined or its own).
   */
  run(key: string, load: () => Promise<void>): Promise<void> {
    const slot = this.keys.get(key) ?? { tail: Promise.resolve(), waiting: undefined };
    if (slot.waiting) return slot.waiting;
    const start = () => {
      slot.waiting = undefined; // reading from now on: a later call must wait for the next one
      return load();
    };
    const run = slot.tail.then(start, start);
    slot.waiting = run;
    // The next reload waits for this one however it ends (its callers get its failure).
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    slot.tail = tail;
    this.keys.set(key, slot);
    void tail.then(() => {
      if (slot.tail === tail) this.keys.delete(key);
    });
    return run;
  }
}
