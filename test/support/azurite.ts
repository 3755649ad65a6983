// Starts a throw-away Azurite blob service for tests: in memory, on a free loopback port, with
// telemetry off. Never leaves the child running: stop() kills it, so does the test process
// exiting, and the child exits by itself if the test process dies without saying goodbye.
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Azurite {
  connectionString: string;
  port: number;
  /** Kills the service; resolves once the child has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** Kills and starts it again on the same port (in-memory: everything stored is gone). */
  restart(): Promise<void>;
}

/** The documented development-storage account; public, Azurite accepts nothing else by default. */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const BIN = fileURLToPath(new URL('../../node_modules/.bin/azurite-blob', import.meta.url));
const READY_WITHIN_MS = 30_000;
const START_ATTEMPTS = 3;

// Run inside the child before Azurite: exit when the IPC channel to the test process closes,
// which happens however that process ends (including SIGKILL), so no Azurite is ever orphaned.
const WATCHDOG = "process.on('disconnect', () => process.exit(0)); require(process.argv[1]);";

/** location: a folder to persist blobs in (survives restart()); in memory otherwise. */
export async function startAzurite(opts: { location?: string } = {}): Promise<Azurite> {
  let lastError: unknown;
  // A free port can be taken by someone else between our probe and Azurite's listen; retry then.
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await runOn(port, opts.location);
    } catch (err) {
      lastError = err;
      if (!(err instanceof AzuriteStartError) || !err.portTaken) throw err;
    }
  }
  throw lastError;
}

class AzuriteStartError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

async function runOn(port: number, location?: string): Promise<Azurite> {
  let child = await launch(port, location);
  const stop = async (): Promise<void> => {
    await kill(child, location !== undefined);
  };
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    port,
    stop,
    async restart() {
      await kill(child, location !== undefined);
      child = await launch(port, location);
    },
  };
}

async function launch(port: number, location?: string): Promise<ChildProcess> {
  const args = [
    ...(location ? ['--location', location] : ['--inMemoryPersistence']),
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    '--skipApiVersionCheck',
    '--loose',
    '--silent',
    '--disableTelemetry',
  ];
  // The .bin entry is a Node script: run it with this very node, no shell in between, so the
  // pid we hold is Azurite's own.
  const child = spawn(process.execPath, ['-e', WATCHDOG, realpathSync(BIN), ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString('utf8'));
    if (output.length > 200) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));

  try {
    await waitUntilListening(child, port, () => output.join(''));
  } catch (err) {
    await kill(child);
    throw err;
  }
  return child;
}

async function waitUntilListening(child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let exited: string | undefined;
  const onExit = (code: number | null, signal: string | null): void => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  };
  child.once('exit', onExit);
  try {
    for (;;) {
      if (exited) {
        const text = output();
        throw new AzuriteStartError(`Azurite on port ${port} ${exited} before accepting connections:\n${text}`, /EADDRINUSE/.test(text));
      }
      if (await accepts(port)) return;
      if (Date.now() > deadline) {
        throw new AzuriteStartError(
          `Azurite did not accept connections on 127.0.0.1:${port} within ${READY_WITHIN_MS} ms:\n${output()}`,
          false,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.removeListener('exit', onExit);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not learn a free port'));
      });
    });
  });
}

async function kill(child: ChildProcess, graceful = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // In memory there is nothing to flush: no graceful shutdown. Persisted to a folder, SIGTERM
  // lets Azurite save its metadata (it autosaves only every few seconds), bounded at 10 s.
  if (graceful) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    return;
  }
  child.kill('SIGKILL');
  await exited;
}
