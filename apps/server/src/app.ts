import type { Logger } from 'pino';
import sharp from 'sharp';
import type { Config } from './config';
import { createHttpServer, type HttpServer } from './http/server';
import { startIntegrations } from './integrations';
import { createRuntime, type Runtime } from './runtime/runtime';
import { version } from './version';

/** The whole Preroll server: the runtime (camera → recorder → store) and its web layer. */
export interface Preroll {
  readonly runtime: Runtime;
  readonly http: HttpServer;
  /** The port the web server listens on. */
  readonly port: number;
  /** Stops in reverse order: web server, then pipeline and store. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: wires config → capture → detector → encoder/ring → recorder → store →
 * web, and starts them in dependency order.
 */
export async function startPreroll(options: { config: Readonly<Config>; logger: Logger; password: string | null; onExit?: () => void }): Promise<Preroll> {
  const { config, logger } = options;
  // Every image sharp sees here is new (live frames, snapshots): its operation cache only holds
  // memory, and one worker thread per encode keeps glibc's per-thread arenas from multiplying.
  sharp.cache(false);
  sharp.concurrency(1);
  const runtime = createRuntime({ config, logger, version: version() });
  try {
    await runtime.start();
  } catch (error) {
    // Undo what did start (the store's watcher, a spawned camera) before reporting.
    await runtime.stop().catch((stopError: unknown) => logger.error({ err: stopError }, 'cleanup after a failed start failed'));
    throw error;
  }
  let http: HttpServer | null = null;
  let port: number;
  let integrations: Awaited<ReturnType<typeof startIntegrations>> = null;
  try {
    integrations = await startIntegrations({ runtime, config, logger: logger.child({ component: 'integrations' }), version: version() });
    http = await createHttpServer({
      config,
      runtime,
      integrations,
      logger: logger.child({ component: 'http' }),
      password: options.password,
      onExit: options.onExit ?? (() => process.kill(process.pid, 'SIGTERM')),
    });
    // A port in use must stop everything, not leave a camera recording with no web server.
    port = await http.listen();
  } catch (error) {
    await http?.close();
    integrations?.detach();
    await integrations?.stop();
    await runtime.stop();
    throw error;
  }
  const server = http;
  let stopping: Promise<void> | null = null;
  return {
    runtime,
    http: server,
    port,
    stop() {
      stopping ??= (async () => {
        await server.close();
        integrations?.detach();
        await integrations?.stop();
        await runtime.stop();
      })();
      return stopping;
    },
  };
}
