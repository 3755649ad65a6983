// An ordered stop bounded by a grace period (server.shutdownGrace): each named step runs after
// the one before; a step that fails is logged and the next one still runs; when the grace
// runs out, the stop gives up with ShutdownTimeout naming the step it was waiting for and
// those not reached, so the process can exit and say what did not stop.
// It must never wait past the grace, and never stop silently short of a step.
import type { Logger } from 'pino';

/** A step's name may be computed when the grace runs out (e.g. which jobs are still running). */
export type StopStep = readonly [name: string | (() => string), run: () => unknown];

export class ShutdownTimeout extends Error {
  readonly code = 'SHUTDOWN_TIMEOUT';
  constructor(
    /** The step in progress, then the steps not reached. */
    readonly pending: string[],
    graceMs: number,
  ) {
    super(
      `did not stop within ${graceMs} ms (server.shutdownGrace): waiting for ${pending[0]}${pending.length > 1 ? `; not reached: ${pending.slice(1).join(', ')}` : ''}`,
    );
  }
}

export async function stopInOrder(steps: readonly StopStep[], graceMs: number, log: Pick<Logger, 'error'>): Promise<void> {
  let current = 0;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ShutdownTimeout(
            steps.slice(current).map(([name]) => (typeof name === 'string' ? name : name())),
            graceMs,
          ),
        ),
      graceMs,
    );
  });
  const run = async () => {
    for (; current < steps.length; current++) {
      const [name, fn] = steps[current]!;
      try {
        await fn();
      } catch (err) {
        log.error({ err }, `shutdown: ${typeof name === 'string' ? name : name()} failed to stop cleanly`);
      }
    }
  };
  try {
    await Promise.race([run(), expired]);
  } finally {
    clearTimeout(timer);
  }
}
