import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import sharp from 'sharp';
import type { Classifier } from '@preroll/classify';
import type { Store } from '@preroll/store';
import { attachAlerts, createAlerts, type Alerts } from './alerts';
import { createAnnouncer } from './announcer';
import { parseConfig, perCamera, type Config, type ConfigLayers } from './config';
import { createConfigService, type ConfigService } from './runtime/config-service';
import { createHttpServer, type HttpServer } from './http/server';
import { startIntegrations } from './integrations';
import { attachCameraLabels, chooseLabelSources, combineLabelsStatus, type CameraLabels } from './camera-labels';
import { attachLabels } from './labels';
import { createRuntime, openConfiguredStore, type Runtime } from './runtime/runtime';
import { version } from './version';

/** The whole Preroll server: one runtime per camera (camera → recorder → store) and the web layer. */
export interface Preroll {
  /** The first (or only) camera's runtime. */
  readonly runtime: Runtime;
  /** Every camera's runtime, in configuration order. */
  readonly runtimes: readonly Runtime[];
  readonly http: HttpServer;
  /** Alert channels and arming (shared by the cameras). */
  readonly alerts: Alerts;
  /** The port the web server listens on. */
  readonly port: number;
  /** The configuration as the settings page changes it. */
  readonly configService: ConfigService;
  /** Stops: web server, cameras (their last recordings are announced), integrations, store. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: wires config → capture → detector → encoder/ring → recorder → store →
 * web for each camera, and starts them in dependency order. A step that fails stops what the
 * earlier ones started before the error is reported.
 */
export async function startPreroll(options: {
  config: Readonly<Config>;
  logger: Logger;
  password: string | null;
  onExit?: () => void;
  /** Aborting it (SIGTERM during the start) stops the cameras at once; the start then rejects with `PREROLL_START_ABORTED`. */
  signal?: AbortSignal;
  /**
   * The configuration file and the layers over it (from `loadConfig`): with them the settings
   * page can save. Without them the configuration is shown but cannot be changed.
   */
  configFile?: string | null;
  layers?: ConfigLayers;
  /** The object detector behind the labels; default the on-device one (`createClassifier`). Tests pass a deterministic one. */
  classifier?: Classifier;
}): Promise<Preroll> {
  const { config, logger, signal } = options;
  // Every image sharp sees here is new (live frames, snapshots): its operation cache only holds
  // memory, and one worker thread per encode keeps glibc's per-thread arenas from multiplying.
  sharp.cache(false);
  sharp.concurrency(1);
  const cameras = perCamera(config);
  const started: Runtime[] = [];
  let sharedStore: Store | null = null;
  // Every recording of every camera is indexed, then announced once, through this one path.
  const announcer = createAnnouncer({ store: () => sharedStore ?? started[0].store(), logger: logger.child({ component: 'announcer' }) });
  const integrations: NonNullable<Awaited<ReturnType<typeof startIntegrations>>>[] = [];
  const integrationsOf: (Awaited<ReturnType<typeof startIntegrations>>)[] = [];
  let http: HttpServer | null = null;
  // Alert channels and arming are the server's, shared by its cameras.
  const alerts = createAlerts({ config, logger: logger.child({ component: 'alerts' }) });
  const alertDetachers: (() => void)[] = [];
  let configService: ConfigService | null = null;
  // Object labels for motion events, added after each announcement as a sidecar update: from
  // the AI Camera's own detector where there is one (labels.source), else the CPU classifier,
  // which then never sees those cameras' events (and is not even created when no camera needs it).
  const labelSources = await chooseLabelSources(cameras, logger.child({ component: 'labels' }));
  const onAiCamera = new Set([...labelSources].filter(([, c]) => c.source === 'camera').map(([id]) => id));
  const cpuCameras = [...labelSources.values()].filter((c) => c.source === 'cpu').length;
  const labelsConfig = cpuCameras === 0 ? { ...config, labels: { ...config.labels, enabled: false } } : config;
  const cpuAnnouncer: Pick<typeof announcer, 'subscribe'> = {
    subscribe: (listener) => announcer.subscribe((a) => (labelSources.get(a.record.camera)?.source ?? 'cpu') === 'cpu' && listener(a)),
  };
  // The one labels hook: the CPU classifier's, and the place every source records labels and
  // reports early ones through (the AI Camera's too), so alerts, MQTT, webhooks and the page see one stream.
  const cpuLabels = attachLabels({ announcer: cpuAnnouncer, store: () => sharedStore ?? started[0].store(), config: labelsConfig, logger: logger.child({ component: 'labels' }), classifier: options.classifier });
  const cameraLabels: CameraLabels[] = [];
  const labels = {
    status: () => combineLabelsStatus(cpuLabels.status(), cameraLabels.map((c) => c.status()), cpuCameras),
    catchUp: () => cpuLabels.catchUp(),
    onLabelled: cpuLabels.onLabelled,
  };
  /** What the alerts of one camera wait for: the AI Camera's early report, or the CPU classifier's early pass. */
  const alertLabelsOf = (cameraConfig: Readonly<Config>): Parameters<typeof attachAlerts>[0]['labels'] => ({
    early: onAiCamera.has(cameraConfig.camera.id) ? cameraConfig.labels.aiCamera.earlyAfterMs > 0 : cpuLabels.early,
    onEarly: cpuLabels.onEarly,
    earlyAt: cpuLabels.earlyAt,
  });
  const undo = async (): Promise<void> => {
    await configService?.stop();
    await http?.close();
    // Before the cameras: a camera closes its store when it stops. An event that ends during
    // the stop is announced unclassified; the next start catches up with it (labels.catchUp).
    for (const one of cameraLabels.splice(0)) await one.stop();
    await cpuLabels.stop();
    // The cameras before the integrations: the clips and segments they close while stopping are
    // indexed and announced like any other, and the integrations still send them out.
    announcer.open();
    for (const runtime of [...started].reverse()) await runtime.stop();
    for (const one of integrations.reverse()) {
      one.detach();
      await one.stop();
    }
    for (const detach of alertDetachers.splice(0)) detach();
    await alerts.stop();
    await sharedStore?.close();
  };
  // A camera that is still connecting must not hold a stop request up: stopping it ends its start.
  const onAbort = (): void => {
    for (const runtime of started) void runtime.stop().catch((error: unknown) => logger.warn({ err: error }, 'stopping a camera during the start failed'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const checkAborted = (): void => {
    if (signal?.aborted) throw Object.assign(new Error('stopped during the start'), { code: 'PREROLL_START_ABORTED' });
  };
  try {
    checkAborted();
    if (cameras.length > 1) {
      // Several cameras share one index of the one data directory.
      await mkdir(config.server.dataDir, { recursive: true });
      sharedStore = await openConfiguredStore(config, logger);
    }
    for (const [index, cameraConfig] of cameras.entries()) {
      const runtime = createRuntime({
        config: cameraConfig,
        logger: cameras.length > 1 ? logger.child({ camera: cameraConfig.camera.id }) : logger,
        version: version(),
        store: sharedStore ?? undefined,
        primary: index === 0,
        onRecording: (recording) => announcer.finished(recording),
        aiCamera: onAiCamera.has(cameraConfig.camera.id) ? { postProcessFile: cameraConfig.labels.aiCamera.postProcessFile, minConfidence: cameraConfig.labels.minConfidence } : null,
      });
      started.push(runtime);
      try {
        await runtime.start();
      } catch (error) {
        checkAborted();
        throw error;
      }
      checkAborted();
    }
    for (const [index, runtime] of started.entries()) {
      const id = cameras[index].camera.id;
      if (!onAiCamera.has(id)) {
        // The CPU classifier's early pass watches the camera from its first event (stopped with the labels).
        cpuLabels.watchCamera({ id, onMotion: runtime.onMotion, onSample: runtime.onSample, onEventStart: runtime.onEventStart });
        continue;
      }
      const one = attachCameraLabels({ runtime, announcer, store: () => sharedStore ?? runtime.store(), config: cameras[index], logger: logger.child({ component: 'labels' }), record: cpuLabels.record });
      // The AI Camera's early labels feed the alerts and the summaries like the CPU's.
      one.onEarly((early) => cpuLabels.reportEarly(early.camera, early.triggeredAtMs, early.labels));
      cameraLabels.push(one);
    }
    await alerts.start();
    for (const [index, runtime] of started.entries()) {
      alertDetachers.push(attachAlerts({ alerts, runtime, announcer, config: cameras[index], logger: logger.child({ component: 'alerts' }), labels: alertLabelsOf(cameras[index]) }));
    }
    // MQTT / webhooks / upload per camera: its own topics, Home Assistant device and recordings.
    for (const [index, runtime] of started.entries()) {
      const one = await startIntegrations({ runtime, announcer, config: cameras[index], logger: logger.child({ component: 'integrations' }), version: version(), alerts, labels: cpuLabels });
      integrationsOf.push(one);
      if (one) integrations.push(one);
    }
    configService = await createConfigService({
      file: options.layers ? (options.configFile ?? null) : null,
      layers: options.layers ?? fixedLayers(config),
      config,
      logger: logger.child({ component: 'config' }),
      apply: async (next, keys) => {
        const applied = new Set<string>();
        const nextCameras = perCamera(next);
        // Cameras added, removed or renamed need a restart (keys under `cameras` say so).
        if (nextCameras.length !== started.length) return [];
        for (const [index, runtime] of started.entries()) for (const key of await runtime.reconfigure(nextCameras[index], keys)) applied.add(key);
        const retention = keys.filter((k) => k.startsWith('retention.'));
        if (sharedStore && retention.length) {
          sharedStore.setRetention({ maxDiskPct: next.retention.maxDiskPct, maxTotalBytes: next.retention.maxTotalBytes || null, maxAgeDays: next.retention.maxAgeDays || null });
          for (const key of retention) applied.add(key);
        }
        const alertKeys = keys.filter((k) => /^(integrations\.notify|arming)(\.|$)/.test(k));
        if (alertKeys.length) {
          // Channels and arming restart; the cameras' feeds attach to the new ones.
          for (const detach of alertDetachers.splice(0)) detach();
          await alerts.reconfigure(next);
          for (const [index, runtime] of started.entries()) {
            alertDetachers.push(attachAlerts({ alerts, runtime, announcer, config: nextCameras[index], logger: logger.child({ component: 'alerts' }), labels: alertLabelsOf(nextCameras[index]) }));
          }
          for (const key of alertKeys) applied.add(key);
        }
        // MQTT shows the arming mode: it restarts with the alerts too.
        const integrationKeys = keys.filter((k) => /^integrations\.(mqtt|webhooks|upload)(\.|$)/.test(k));
        if (integrationKeys.length || alertKeys.length) {
          // Each camera's MQTT, webhooks and upload stop (their queues flush) and start anew.
          for (const [index, runtime] of started.entries()) {
            const old = integrationsOf[index];
            if (old) {
              old.detach();
              await old.stop();
              integrations.splice(integrations.indexOf(old), 1);
            }
            const one = await startIntegrations({ runtime, announcer, config: nextCameras[index], logger: logger.child({ component: 'integrations' }), version: version(), alerts, labels: cpuLabels });
            integrationsOf[index] = one;
            if (one) integrations.push(one);
          }
          for (const key of integrationKeys) applied.add(key);
        }
        return [...applied];
      },
    });
    http = await createHttpServer({
      config,
      runtimes: started,
      integrations: integrationsOf,
      alerts,
      announcer,
      labels,
      logger: logger.child({ component: 'http' }),
      password: options.password,
      onExit: options.onExit ?? (() => process.kill(process.pid, 'SIGTERM')),
      configService,
    });
    // A port in use must stop everything, not leave a camera recording with no web server.
    const port = await http.listen();
    checkAborted();
    signal?.removeEventListener('abort', onAbort);
    // Every subscriber is attached: what was finished while starting (recovered clips) goes out now.
    announcer.open();
    configService.start();
    // Events a stop left unclassified: in the background, one at a time.
    void labels.catchUp().catch((error: unknown) => logger.warn({ err: error }, 'labels: catching up failed'));
    let stopping: Promise<void> | null = null;
    return {
      runtime: started[0],
      runtimes: started,
      http,
      alerts,
      port,
      configService,
      stop() {
        stopping ??= undo();
        return stopping;
      },
    };
  } catch (error) {
    signal?.removeEventListener('abort', onAbort);
    // Stopped again now that their start has settled: a camera stopped half-way is stopped whole.
    await undo().catch((stopError: unknown) => logger.error({ err: stopError }, 'cleanup after a failed start failed'));
    throw error;
  }
}

/** Layers for a configuration given whole (no file): shown by the settings page, not changeable. */
function fixedLayers(config: Readonly<Config>): ConfigLayers {
  return {
    fileDoc: {},
    envKeys: [],
    flagKeys: [],
    profileKeys: [],
    resolve: (doc, origin) => ({ config: parseConfig(doc, origin), profile: { name: 'none', model: null, reason: 'no file', applied: [] } }),
  };
}
