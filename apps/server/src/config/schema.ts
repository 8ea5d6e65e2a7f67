import { z } from 'zod';
import { DEFAULT_DETECTOR_CONFIG, POLYGON_LIMITS } from '@preroll/detector';
import { AUTOFOCUS_MODES, AWB_MODES, DEFAULT_POST_PROCESS_FILE, DENOISE_MODES, HDR_MODES, RPICAM_CONTROL_LIMITS as L, TUNING_FILE_NAME } from '@preroll/capture';
import { armingConfigSchema, notifyConfigSchema, resolveIntegrationsConfig, type IntegrationsConfig } from '@preroll/integrations';

/** The detector's own defaults (chosen by measurement, see docs/detector.md): one source of truth. */
const D = DEFAULT_DETECTOR_CONFIG;
import { PROFILE_SETTINGS } from './profiles';

/**
 * The one schema of Preroll's configuration file. Unknown keys are rejected, every number is
 * bounded, units are in the names. `docs/configuration.md` is generated from it
 * (`pnpm preroll config docs`), so the descriptions below are the user documentation.
 */

const evenSide = z.int().min(32).max(4096).multipleOf(2);

const sensorName = z
  .string()
  .regex(/^[a-z0-9_-]{1,40}$/)
  .refine((name) => name !== 'video', { message: '"video" is the name of the video cue' })
  .describe('Name of the sensor: shown in the status, recorded in the events it starts (`cues`), and the `:name` of `POST /api/sensors/:name` (lower-case letters, digits, `_`, `-`; not `video`).');
const sensorKind = 'What the sensor is: `gpio`, a PIR or any sensor on a GPIO line read with libgpiod\'s `gpiomon` (Debian package `gpiod`), restarted with backoff when it dies; `mqtt`, a topic on the broker of `integrations.mqtt` (which must be configured; retained messages are ignored, so a stale "on" never starts an event at a reconnect); `http`, fired by `POST /api/sensors/:name` (or `/api/cameras/:id/sensors/:name`) with a token of scope `control`, e.g. a doorbell.';
const holdS = z
  .number()
  .min(0)
  .max(3600)
  .default(10)
  .describe('Seconds the sensor still counts as active after its "off" (or, for a sensor without "off", after each cue): an event lasts at least this long after the last cue.');

const gpioSensor = z.strictObject({
  name: sensorName,
  kind: z.literal('gpio').describe(sensorKind),
  chip: z.string().regex(/^[A-Za-z0-9_./-]{1,100}$/).default('gpiochip0').describe('GPIO chip of the line, as `gpiomon` names it.'),
  line: z.int().min(0).max(511).describe('GPIO line (BCM number on a Raspberry Pi).'),
  activeLow: z.boolean().default(false).describe('The sensor pulls the line low when it fires (most PIR modules drive it high: false).'),
  bias: z.enum(['pull-up', 'pull-down', 'disable', 'as-is']).default('as-is').describe('Bias asked of the line: `as-is` for a sensor that drives the line, `pull-up` for a contact to GND.'),
  debounceMs: z.int().min(0).max(10_000).default(100).describe('Edges closer than this to the previous accepted one are chatter and ignored, milliseconds.'),
  holdS,
});

const mqttSensor = z.strictObject({
  name: sensorName,
  kind: z.literal('mqtt').describe(sensorKind),
  topic: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^#+\u0000]+$/)
    .describe('Topic to subscribe to (no wildcards), e.g. `zigbee2mqtt/hall_pir`.'),
  jsonPath: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/)
    .optional()
    .describe('Read the state from this key of a JSON payload (dots go deeper), e.g. `occupancy`; `true` means on and `false` off, strings are compared with `onPayload`/`offPayload`. Without it the whole payload is compared.'),
  onPayload: z.string().min(1).max(100).default('ON').describe('Payload (or JSON value) that means "on": a cue.'),
  offPayload: z.string().min(1).max(100).nullable().default('OFF').describe('Payload that means "off"; null: the sensor has no "off" and holds for `holdS` after each cue.'),
  holdS,
});

const httpSensor = z.strictObject({
  name: sensorName,
  kind: z.literal('http').describe(sensorKind),
  minIntervalMs: z.int().min(0).max(3_600_000).default(1000).describe('Calls closer than this to the last accepted one are refused (429 `SENSOR_RATE_LIMITED`), milliseconds.'),
  holdS,
});

const triggers = z
  .strictObject({
    mode: z
      .enum(['video', 'sensor', 'video-or-sensor', 'video-and-sensor'])
      .default('video')
      .describe('What starts an event: `video` (the motion detector alone), `sensor` (the sensors alone), `video-or-sensor` (whichever comes first) or `video-and-sensor` (both, at most `withinS` apart). The clip always starts the pre-roll before the first cue.'),
    withinS: z
      .number()
      .min(0)
      .max(60)
      .default(10)
      .describe('`video-and-sensor`: the most seconds between the video cue and the sensor cue. The pre-roll ring keeps this much more video, since the clip starts the pre-roll before the first of the two.'),
    sensors: z
      .array(z.discriminatedUnion('kind', [gpioSensor, mqttSensor, httpSensor]))
      .max(8)
      .default([])
      .describe('Sensors that can start or confirm events: each an object with a `name`, a `kind` (`gpio`, `mqtt` or `http`) and the keys of its kind below.'),
  })
  .prefault({})
  .refine((t) => new Set(t.sensors.map((s) => s.name)).size === t.sensors.length, { message: 'sensor names must differ' })
  .refine((t) => t.mode === 'video' || t.sensors.length > 0, { message: 'a trigger mode other than "video" needs at least one sensor' })
  .describe('Sensor triggers (a PIR on a GPIO line, an MQTT topic, an HTTP call) and how they combine with the motion detector; see docs/detector.md, "Sensor triggers".');
/** The Pi camera's image controls: each an `rpicam-vid` option; the bounds are the capture package's. */
export const cameraControlsSchema = z
  .strictObject({
    autofocusMode: z.enum(AUTOFOCUS_MODES).optional().describe('`--autofocus-mode` (Camera Module 3): `default` (continuous unless a lens position is set), `manual`, `auto` (one sweep at start: the page\'s "focus now" button restarts the camera with it), `continuous`.'),
    lensPosition: z.number().min(L.lensPosition[0]).max(L.lensPosition[1]).optional().describe('`--lens-position`, dioptres (1 / distance in metres; 0 is infinity). Implies manual focus.'),
    shutterUs: z.int().min(L.shutterUs[0]).max(L.shutterUs[1]).optional().describe('`--shutter`, exposure time in microseconds; 0: automatic.'),
    gain: z.number().min(L.gain[0]).max(L.gain[1]).optional().describe('`--gain`, combined analogue and digital gain; 0: automatic.'),
    ev: z.number().min(L.ev[0]).max(L.ev[1]).optional().describe('`--ev`, exposure compensation in stops.'),
    awb: z.enum(AWB_MODES).optional().describe('`--awb`, the white balance mode.'),
    brightness: z.number().min(L.brightness[0]).max(L.brightness[1]).optional().describe('`--brightness`, -1 (black) to 1 (white); 0 is normal.'),
    contrast: z.number().min(L.contrast[0]).max(L.contrast[1]).optional().describe('`--contrast`; 1 is normal.'),
    saturation: z.number().min(L.saturation[0]).max(L.saturation[1]).optional().describe('`--saturation`; 0 is greyscale, 1 normal.'),
    sharpness: z.number().min(L.sharpness[0]).max(L.sharpness[1]).optional().describe('`--sharpness`; 0 none, 1 normal.'),
    denoise: z.enum(DENOISE_MODES).optional().describe('`--denoise` mode (`cdn_hq` lowers the frame rate a lot).'),
    hdr: z.enum(HDR_MODES).optional().describe('`--hdr` (Camera Module 3 has a sensor HDR mode; the Pi 5 also `single-exp`).'),
    hflip: z.boolean().optional().describe('`--hflip`: mirror the picture.'),
    vflip: z.boolean().optional().describe('`--vflip`: turn the picture upside down (with hflip: rotate 180°).'),
    tuningFile: z.string().regex(TUNING_FILE_NAME).optional().describe('`--tuning-file` by name, from libcamera\'s tuning folder of the board (e.g. `imx708_noir` for a Camera Module 3 NoIR, `imx219_noir` for a v2 NoIR).'),
  })
  .describe('Image controls of the Pi camera (`rpicam`), set from the page (camera settings) or here; changed live by restarting `rpicam-vid` (a gap of about a second, the pre-roll and an open clip survive it).');

/** The "name": value map of V4L2 controls a USB camera reports (`v4l2-ctl --list-ctrls-menus`). */
export const v4l2ControlsSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), z.int().min(-2_147_483_648).max(2_147_483_647))
  .refine((value) => Object.keys(value).length <= 64, { message: 'at most 64 controls' })
  .describe('Controls of a `v4l2:` camera set at start, as `{"name": value}` from `v4l2-ctl --list-ctrls-menus` (e.g. `{"brightness": 10, "power_line_frequency": 1}`); the page sets them live.');

const point = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);

/** A polygon mask or zone, in fractions of the frame. */
export const polygonSchema = z.strictObject({
  kind: z.enum(['exclude', 'include']).describe('`exclude`: motion inside never counts; `include`: an "only here" zone.'),
  points: z
    .array(point)
    .min(POLYGON_LIMITS.minPoints)
    .max(POLYGON_LIMITS.maxPoints)
    .describe('The corners in order, each `[x, y]` as fractions of the frame width and height (0..1).'),
});

const camera = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).default('cam').describe('Camera id: names recordings and appears in the gallery (letters, digits, `_`, `-`).'),
    source: z
      .string()
      .min(1)
      .max(2000)
      .default('auto')
      .describe('`auto` (the Pi camera when `rpicam-vid` finds one, else `demo`), `rpicam[:WxH@FPS]`, `file:PATH`, `v4l2:/dev/videoN`, `url:URL` or `demo`.'),
    profile: z
      .enum(PROFILE_SETTINGS)
      .default('auto')
      .describe('Defaults for a Raspberry Pi model (size, frame rate, encoder, live view): `auto` picks one from `/proc/device-tree/model`; `pi-zero-2-w`, `pi-3` (1024x576@15, libx264, live 480 px at 5 fps), `pi-4` (1280x720@30, hardware encoder), `pi-5` (1280x720@30, libx264) or `none`. Keys set in the file, the environment or flags always win; the size and rate apply to the Pi camera only.'),
    width: evenSide.optional().describe('Frame width asked of the camera, pixels (even). Default: the profile of the Pi model (`camera.profile`), else 1280 for the Pi camera, 640 for the demo, the native size otherwise.'),
    height: evenSide.optional().describe('Frame height asked of the camera, pixels (even).'),
    fps: z.number().min(0.1).max(120).optional().describe('Frame rate asked of the camera. Default: the profile of the Pi model, else 15 for the Pi camera and the demo, native otherwise.'),
    strideAlign: z.union([z.literal(64), z.literal(128)]).optional().describe('Row alignment of `rpicam-vid` YUV output, bytes. Default: 128 on a Pi 5, 64 on earlier models.'),
    rpicamArgs: z.array(z.string().max(200)).max(50).default([]).describe('Extra arguments for `rpicam-vid`, e.g. `["--metering", "spot"]` (image controls have their own keys in `controls`).'),
    rpicamRoute: z
      .enum(['node', 'split'])
      .default('node')
      .describe('How the Pi camera\'s frames (`rpicam` sources; other sources ignore it) reach the encoder. `node`: every frame passes through Node, which hands it to the detector, the live view and the encoder ffmpeg. `split`: the encoder ffmpeg reads `rpicam-vid`\'s output itself and encodes it with the same settings (`recorder.encoder`, `recorder.bitrateKbps`, a keyframe a second); Node gets its H.264 and a reduced stream (`camera.passthrough.detectWidthPx` wide, `detector.analysisFps` frames a second) for detection, photos and the JPEG live view, and never copies a full-size frame. The default stays `node`, the route every other part was measured on, until `split` is better on every figure of `pnpm bench loop` and `pnpm bench budget` (docs/benchmarks.md, "Node\'s frame loop"); on `split`, snapshots, thumbnails and the JPEG live view are the reduced frames and a photo is the newest keyframe decoded in full (docs/capture.md).'),
    controls: cameraControlsSchema.prefault({}),
    v4l2Controls: v4l2ControlsSchema.default({}),
    stallTimeoutMs: z.int().min(500).max(600_000).default(5000).describe('Restart the camera when no frame arrived for this long, milliseconds.'),
    loop: z.boolean().default(true).describe('For a `file:` source: start again at the end.'),
    mjpeg: z
      .strictObject({
        mode: z
          .enum(['auto', 'never'])
          .default('auto')
          .describe('`auto`: a `url:` camera found by the probe at start (ffprobe, `camera.passthrough.probeTimeoutMs`) to send MJPEG (most USB webcams behind a streamer, older IP cameras) is read once, its own JPEGs are the pre-roll and the live view, only the pictures the detector analyses are decoded (at a reduced size), and the H.264 encoder runs only while video is needed (events, manual and continuous recording, `/stream.mp4` viewers). `never`: the stream is decoded in full and encoded all the time. A camera that does not answer the probe is decoded in full.'),
        lowres: z
          .union([z.literal('auto'), z.literal(0), z.literal(1), z.literal(2), z.literal(3)])
          .default('auto')
          .describe('Detection decodes at 1/2^lowres of the camera\'s size (0 full, 1 half, 2 quarter, 3 eighth), in the JPEG decoder itself. `auto`: the largest reduction that keeps the decoded width at least `detector.analysisWidth` (640x480 → 160x120 at the default 160; 480 px wide → half; 1920 → an eighth).'),
        encoderIdleStopS: z.number().min(0).max(3600).default(10).describe('Seconds the H.264 encoder keeps running after the last recording or viewer needed it.'),
      })
      .prefault({})
      .describe('MJPEG cameras: the camera\'s JPEGs passed through, the encoder on demand.'),
    passthrough: z
      .strictObject({
        mode: z
          .enum(['auto', 'never'])
          .default('auto')
          .describe('`auto`: a `url:` camera is probed at start (ffprobe, `probeTimeoutMs`); when it sends H.264 that browsers play (Constrained Baseline, Baseline, Main or High, 4:2:0, no B-frames), its own H.264 is recorded as it comes and only a reduced stream is decoded for detection; anything else, or no answer to the probe, is decoded and re-encoded. `never`: always decode and re-encode.'),
        detectWidthPx: z.int().min(64).max(1920).multipleOf(2).default(640).describe('Passthrough (and the Pi camera\'s `split` route, `camera.rpicamRoute`): width of the frames decoded for detection, snapshots, thumbnails and the JPEG live view, pixels (never above the camera\'s).'),
        probeTimeoutMs: z.int().min(1000).max(60_000).default(8000).describe('The longest the probe of a `url:` camera (which chooses passthrough, the MJPEG path or a full decode) may take at start, milliseconds (a camera that never answers is given up after at most 5 s of silence; the web server listens after the probe).'),
      })
      .prefault({})
      .describe('Recording a network camera\'s own H.264 without decoding and re-encoding it (`url:` sources).'),
    triggers,
  })
  .describe('The camera (capture).');

const mask = z
  .strictObject({
    rects: z
      .array(
        z.strictObject({
          x: z.number().min(0).max(1).describe('Left edge, fraction of the frame width.'),
          y: z.number().min(0).max(1).describe('Top edge, fraction of the frame height.'),
          width: z.number().min(0).max(1).describe('Width, fraction of the frame width.'),
          height: z.number().min(0).max(1).describe('Height, fraction of the frame height.'),
        }),
      )
      .max(64)
      .default([])
      .describe('Rectangles ignored by the detector, as fractions of the frame (0..1).'),
    imagePath: z.string().max(4096).optional().describe('A PNG or PGM mask (black = ignored), the size of the frame or of the analysis image.'),
    polygons: z
      .array(polygonSchema)
      .max(POLYGON_LIMITS.maxPolygons)
      .default([])
      .describe('Polygons drawn on the picture (the page\'s mask editor), each `{"kind": "exclude" | "include", "points": [[x, y], ...]}` with 3 to 64 points as fractions of the frame (0..1). `exclude`: motion inside never counts; `include`: an "only here" zone: when there is any, motion counts only inside the zones (and outside every exclusion and rectangle).'),
  })
  .prefault({})
  .describe('Parts of the picture that never count as motion.');

const detector = z
  .strictObject({
    analysisWidth: z.int().min(8).max(1920).default(D.analysisWidth).describe('Width of the downscaled luma image the motion score is computed on, pixels.'),
    analysisFps: z
      .number()
      .min(1)
      .max(120)
      .default(5)
      .describe(
        'Frames a second the motion detector analyses at most, picked evenly by timestamp; every frame is still recorded and shown live. The default is the lowest rate that keeps the worst-case decision delay for a compact object (two analysed frames) within 0.5 s and gives the same events as 15 and 30 frames/s (docs/detector.md, "Analysis rate"). At or above the camera\'s frame rate every frame is analysed. An MJPEG camera (`camera.mjpeg`), a passed-through H.264 camera (`camera.passthrough`) and the Pi camera on the `split` route (`camera.rpicamRoute`) decode only this many pictures a second for the detector (a change reaches their decoder when the camera next restarts).',
      ),
    triggerLevel: z
      .number()
      .min(0.1)
      .max(65025)
      .default(D.triggerLevel)
      .describe('Motion score (mean squared luma residual of the change that stands out of the noise, in connected regions, 0..65025) above which a frame counts as motion; in auto mode the lowest level. Adjustable live.'),
    triggerMode: z.enum(['auto', 'manual']).default(D.triggerMode).describe('auto: the level follows the noise floor of the score (never below triggerLevel) and the +/- buttons move an offset; manual: the level is what was set.'),
    confirmFrames: z.int().min(1).max(1000).default(D.confirmFrames).describe('Consecutive frames above the trigger level that start an event (a floor; confirmS decides).'),
    confirmS: z.number().min(0).max(60).default(D.confirmS).describe('Seconds a run of frames above the level must last to start an event.'),
    referenceS: z.number().min(0).max(5).default(D.referenceS).describe('Age of the reference image each frame is compared with, seconds.'),
    noise: z
      .strictObject({
        thresholdSigma: z.number().min(0.5).max(50).default(D.noise.thresholdSigma).describe('A pixel changed when its smoothed residual exceeds this many measured noise σ.'),
        minDeltaLuma: z.number().min(0).max(255).default(D.noise.minDeltaLuma).describe('...and at least this many luma levels.'),
        riseS: z.number().min(0.01).max(600).default(D.noise.riseS).describe('Time constant of the noise estimate when the noise rises, seconds.'),
        fallS: z.number().min(0.01).max(600).default(D.noise.fallS).describe('Time constant when it falls, seconds.'),
      })
      .prefault({})
      .describe('The sensor-noise model.'),
    regions: z
      .strictObject({
        minAreaFraction: z.number().min(0).max(0.5).default(D.regions.minAreaFraction).describe('Smallest connected region of changed pixels that counts, as a fraction of the picture.'),
      })
      .prefault({})
      .describe('Spatial coherence.'),
    activity: z
      .strictObject({
        weight: z.number().min(0).max(100).default(D.activity.weight).describe('Weight of the learned activity in the threshold; 0 turns the map off.'),
        riseS: z.number().min(0.1).max(3600).default(D.activity.riseS).describe('Time constant while a place keeps moving, seconds.'),
        fallS: z.number().min(0.1).max(3600).default(D.activity.fallS).describe('Time constant while it calms down, seconds.'),
        clipFactor: z.number().min(1).max(1000).default(D.activity.clipFactor).describe('What one frame can teach a pixel, in squared base thresholds.'),
      })
      .prefault({})
      .describe('The activity map that weighs down persistent local motion (leaves, water, flags).'),
    night: z
      .strictObject({
        enterLuma: z.number().min(0).max(255).default(D.night.enterLuma).describe('Mean luma below which the night profile starts.'),
        exitLuma: z.number().min(0).max(255).default(D.night.exitLuma).describe('Mean luma above which the day profile returns (above enterLuma).'),
        thresholdSigma: z.number().min(0.5).max(50).default(D.night.thresholdSigma).describe('noise.thresholdSigma at night.'),
        minAreaFraction: z.number().min(0).max(0.5).default(D.night.minAreaFraction).describe('regions.minAreaFraction at night.'),
        levelFactor: z.number().min(0.01).max(1).default(D.night.levelFactor).describe('In auto mode, the night level is the day level times this.'),
      })
      .prefault({})
      .refine((n) => n.exitLuma >= n.enterLuma, { message: 'night.exitLuma must not be below night.enterLuma' })
      .describe('The night profile, switched to by scene brightness with hysteresis.'),
    auto: z
      .strictObject({
        margin: z.number().min(1).max(100).default(D.auto.margin).describe('The auto level sits this many times above the median of recent quiet scores.'),
        windowS: z.number().min(1).max(600).default(D.auto.windowS).describe('Seconds of recent quiet scores the auto level follows.'),
        holdS: z.number().min(0).max(3600).default(D.auto.holdS).describe('The auto level comes down one step at most every this many seconds.'),
      })
      .prefault({})
      .describe('The continuous auto trigger level.'),
    gapS: z.number().min(0).max(3600).default(D.gapS).describe('Quiet seconds that end an event.'),
    maxEventS: z.number().min(1).max(86_400).default(D.maxEventS).describe('Longest event, seconds; longer motion is split into several clips.'),
    warmupS: z.number().min(0).max(3600).default(D.warmupS).describe('Seconds ignored after start (auto-exposure settling).'),
    lighting: z
      .strictObject({
        compensation: z.enum(['tone', 'gain-offset', 'offset', 'none']).default(D.lighting.compensation).describe('How frame-wide brightness changes are removed before scoring.'),
        pixelDelta: z.number().min(1).max(255).default(D.lighting.pixelDelta).describe('Luma change that counts a pixel as changed when judging a lighting switch.'),
        switchFraction: z.number().min(0.05).max(1).default(D.lighting.switchFraction).describe('Fraction of changed pixels that marks a frame-wide lighting switch.'),
        holdS: z.number().min(0).max(60).default(D.lighting.holdS).describe('Seconds after a lighting switch during which motion is ignored.'),
      })
      .prefault({})
      .describe('Rejection of lights, clouds and exposure steps.'),
    mask,
  })
  .prefault({})
  .describe('Motion detection.');

const recorder = z
  .strictObject({
    preRollMs: z.int().min(0).max(60_000).default(5000).describe('Video kept in RAM and saved before the motion, milliseconds.'),
    postRollMs: z.int().min(0).max(600_000).default(3000).describe('Video saved after the motion ends, milliseconds.'),
    encoder: z.enum(['auto', 'libx264', 'h264_v4l2m2m']).default('libx264').describe('H.264 encoder: `libx264` (software), `h264_v4l2m2m` (Pi 4 and earlier hardware) or `auto` (the hardware one where it exists). A Pi profile may set it.'),
    bitrateKbps: z.int().min(100).max(50_000).optional().describe('Bitrate, kbit/s: the hardware encoder\'s target (default 4000); for libx264 a cap on its constant quality (default: no cap). Also the rate of `/stream.mp4`.'),
    fsync: z.boolean().default(true).describe('Flush the partial clip to the card after every fragment (survives power cuts).'),
  })
  .prefault({})
  .describe('Clips and the pre-roll.');

const retention = z
  .strictObject({
    maxDiskPct: z.number().min(1).max(99).default(80).describe('Delete the oldest recordings while the filesystem is fuller than this, percent.'),
    maxTotalBytes: z.int().min(0).default(0).describe('Delete the oldest recordings while they take more than this, bytes (0: no limit).'),
    maxAgeDays: z.number().min(0).max(36_500).default(0).describe('Delete recordings older than this, days (0: no limit). Favourites are never deleted automatically.'),
    intervalS: z.int().min(10).max(86_400).default(300).describe('How often retention runs besides after each event, seconds.'),
  })
  .prefault({})
  .describe('Keeping the card from filling.');

const recording = z
  .strictObject({
    continuous: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Record continuously from the start (dashcam mode). The page and `POST /api/continuous` switch it; that choice is kept in `settings.json` and wins at the next start.'),
        segmentS: z.number().min(2).max(3600).default(60).describe('Length of a continuous segment, seconds: each is cut at the first keyframe at or after it (about one second of slack).'),
      })
      .prefault({})
      .describe('Continuous recording: MP4 segments of kind `segment` in `events/YYYY-MM-DD/`; the retention limits overwrite the oldest segments first (never favourites).'),
    lookback: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Keep a hidden look-back of recent video on disk for "save the last N minutes" while continuous recording is off. Off by default: it writes the whole stream to the card all the time (SD card wear); with continuous recording on, its segments serve instead.'),
        maxBytes: z.int().min(0).max(2 ** 50).default(8_000_000_000).describe('Byte cap of the hidden look-back (`.lookback/` in the data directory) that "save the last N minutes" joins from while continuous recording is off; at most a quarter of the file system is used whatever this says. 0 switches it off (memories then need continuous recording).'),
        segmentS: z.number().min(1).max(600).default(10).describe('Length of a look-back segment, seconds.'),
      })
      .prefault({})
      .describe('The disk-backed look-back of recent video, separate from the RAM pre-roll.'),
    memory: z
      .strictObject({
        defaultMinutes: z.number().min(0.01).max(1440).default(3).describe('Minutes a press saves (the page button, the GPIO button, `POST /api/memories` without `minutes`).'),
        stepMinutes: z.number().min(0.01).max(1440).default(3).describe('Minutes added by another press within the saving window, or by every `holdStepS` the GPIO button is held.'),
        holdStepS: z.number().min(0.5).max(60).default(3).describe('Seconds of holding the GPIO button per `stepMinutes` added.'),
        windowS: z.number().min(0.2).max(120).default(5).describe('Seconds after the last press (or release) before the memory is saved; presses within it add time.'),
        maxMinutes: z.number().min(0.1).max(1440).default(60).describe('Longest memory, minutes.'),
      })
      .prefault({})
      .describe('"Save the last N minutes": one MP4 `YYYY-MM-DD_HH-MM-SS-MEMORY.mp4`, kind `memory`, saved as a favourite.'),
    gpio: z
      .strictObject({
        pin: z.int().min(0).max(511).nullable().default(null).describe('GPIO line (BCM number on a Raspberry Pi) of a push button that saves a memory; null: no button. Wire the button between the pin and GND.'),
        chip: z.string().regex(/^[A-Za-z0-9_./-]{1,100}$/).default('gpiochip0').describe('GPIO chip of the line, as `gpiomon` names it (`gpiochip0` on a Pi; older Pi 5 kernels put the header on `gpiochip4`).'),
        bias: z.enum(['pull-up', 'pull-down', 'disable', 'as-is']).default('pull-up').describe('Bias asked of the line: `pull-up` for a button to GND (no resistor needed).'),
        activeLow: z.boolean().default(true).describe('The button pulls the line low when pressed (button to GND with a pull-up).'),
        debounceMs: z.int().min(0).max(1000).default(50).describe('Edges closer than this to the previous one are contact bounce and ignored, milliseconds.'),
        camera: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).nullable().default(null).describe('With several `cameras`: the id of the camera whose memory the button saves; null: the first camera.'),
      })
      .prefault({})
      .describe('The optional physical button, read with libgpiod\'s `gpiomon` (Debian package `gpiod`).'),
  })
  .prefault({})
  .describe('Recording modes besides motion events: continuous segments, "save the last N minutes", the GPIO button.');

const labels = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Label each motion event with what moved (person, animal, vehicle, other) by running an object detector on its snapshot once the event ends. The board profile turns it off on a Pi Zero 2 W and a Pi 3 (see docs/labels.md for the measured cost and the rule); elsewhere it is on.',
      ),
    minConfidence: z.number().min(0.05).max(0.99).default(0.4).describe('Lowest detector confidence (0..1) that labels an event; see docs/benchmarks.md for precision and recall at each threshold.'),
    early: z
      .boolean()
      .default(true)
      .describe('Also classify each motion event once early, `earlyDelayMs` after the trigger, on the frame with the highest score so far cropped around its motion boxes, so alerts can use the labels (`integrations.notify.*.labels`). The classification after the event still runs and may add labels.'),
    earlyDelayMs: z
      .int()
      .min(0)
      .max(10_000)
      .default(1500)
      .describe('How long after the trigger the early classification looks at the best frame so far, milliseconds: longer sees the subject better, shorter alerts sooner. An event that ends sooner is classified at its end.'),
    hideUnlabelled: z
      .boolean()
      .default(false)
      .describe('Leave motion events whose classification found nothing ("motion only") out of the gallery list (`GET /api/events` without `label=`). They are kept, counted and deleted by retention like any other; `label=none` lists them.'),
    source: z
      .enum(['auto', 'cpu', 'camera'])
      .default('auto')
      .describe(
        'Where the labels come from. `camera`: the Raspberry Pi AI Camera (IMX500) detects objects on the sensor and rpicam-vid reports them per frame, at no CPU cost; the CPU classifier is never loaded (Pi camera sources only). `cpu`: the object detector on the CPU, as `enabled` says. `auto`: the AI Camera when `rpicam-vid --list-cameras` lists an imx500 for a Pi camera source, else the CPU. The AI Camera labels events whatever `enabled` and the board profile say (they cost nothing). See docs/labels.md.',
      ),
    aiCamera: z
      .strictObject({
        postProcessFile: z
          .string()
          .min(1)
          .max(4096)
          .default(DEFAULT_POST_PROCESS_FILE)
          .describe('rpicam-vid post-processing file with an `imx500_object_detection` stage: the network the sensor runs and its class names (installed by `sudo apt install imx500-all`).'),
        minFrames: z.int().min(1).max(300).default(3).describe('Frames an object must be seen in (at or above `minConfidence`) to label an event: one stray frame is not a sighting.'),
        earlyAfterMs: z
          .int()
          .min(0)
          .max(10_000)
          .default(1500)
          .describe('After the trigger, when the labels seen so far are reported early (for alerts), milliseconds; 0 turns the early report off. The event\'s labels are written when it ends.'),
      })
      .prefault({})
      .describe('The Raspberry Pi AI Camera as the label source (`source: camera` or `auto`).'),
  })
  .prefault({})
  .describe('Object labels on events; see docs/labels.md.');

const live = z
  .strictObject({
    width: z.int().min(64).max(1920).multipleOf(2).default(640).describe('Width of the live view JPEGs, pixels.'),
    maxFps: z.number().min(0.5).max(30).default(10).describe('Highest frame rate of the live view (MJPEG and WebSocket).'),
    jpegQuality: z.int().min(10).max(95).default(70).describe('JPEG quality of the live view.'),
  })
  .prefault({})
  .describe('The live view.');

const server = z
  .strictObject({
    host: z.string().min(1).max(255).default('0.0.0.0').describe('Address to listen on. Anything but localhost requires a password.'),
    port: z.int().min(0).max(65_535).default(8080).describe('TCP port of the web interface and API.'),
    dataDir: z.string().min(1).max(4096).default('./data').describe('Where recordings, the index and settings are kept.'),
    tls: z
      .strictObject({
        certPath: z.string().min(1).max(4096).describe('PEM certificate (chain) file.'),
        keyPath: z.string().min(1).max(4096).describe('PEM private key file.'),
      })
      .optional()
      .describe('Serve HTTPS (and secure cookies) with this certificate and key instead of HTTP.'),
    allowedHosts: z
      .array(z.string().regex(/^(\*\.)?[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.?$/))
      .max(50)
      .default([])
      .describe('Host names the page may be reached by (the `Host` header), besides IP addresses, `localhost`, this machine\'s name and `<name>.local`; `*.example.org` allows its subdomains. Any other name is answered 421 (a defence against DNS rebinding). Add the name of a reverse proxy or dynamic DNS here.'),
    limits: z
      .strictObject({
        headersTimeoutMs: z.int().min(1000).max(300_000).default(10_000).describe('Time a client has to send the request headers, from the moment it connects, milliseconds (at most `requestTimeoutMs`).'),
        requestTimeoutMs: z.int().min(1000).max(600_000).default(15_000).describe('Time a client has to send the whole request (headers and body), milliseconds. Responses (the live streams) are not limited.'),
        bodyTimeoutMs: z.int().min(500).max(600_000).default(5000).describe('Time a request body may take to arrive once the headers are in, milliseconds (answered 408).'),
        keepAliveTimeoutMs: z.int().min(500).max(600_000).default(5000).describe('An idle kept-alive connection is closed after this long, milliseconds.'),
        idleTimeoutMs: z.int().min(1000).max(3_600_000).default(120_000).describe('A connection on which nothing moved in either direction for this long is closed, milliseconds (a stalled stream viewer; a WebSocket client that answers no ping).'),
        maxConnections: z.int().min(8).max(100_000).default(128).describe('Open connections in all; further ones are closed at once. Lowered automatically to the descriptor limit (`ulimit -n`) minus 64 kept for the recorder.'),
        maxUnauthenticated: z.int().min(2).max(100_000).default(32).describe('Connections that have not shown a session or token yet, from all addresses; beyond it the oldest such connection is closed.'),
        maxUnauthenticatedPerAddress: z.int().min(1).max(100_000).default(8).describe('Connections that have not shown a session or token yet, per client address; beyond it new ones from that address are closed.'),
        loginFailuresPerMinute: z.int().min(1).max(1000).default(5).describe('Login attempts per client address per minute that may fail; an attempt counts before the password is checked, so parallel guesses share the budget.'),
        loginAttemptsPerMinute: z.int().min(1).max(10_000).default(30).describe('Login attempts per minute from all addresses together that may fail (a cap against guessing from many addresses).'),
        sessionDays: z.number().min(0.001).max(365).default(30).describe('Lifetime of a login session (cookie), days; logout, a new password and "log out everywhere" end sessions at once.'),
      })
      .prefault({})
      .describe('What a client may hold: timeouts, connection caps, the login budget and the session lifetime (see docs/security.md).'),
  })
  .prefault({})
  .describe('The web server.');

const actions = z
  .strictObject({
    allowReboot: z.boolean().default(false).describe('Show and allow the "reboot" button (runs `rebootCommand`).'),
    allowExit: z.boolean().default(false).describe('Show and allow the "exit" button (stops Preroll; systemd may restart it).'),
    rebootCommand: z
      .array(z.string().min(1))
      .min(1)
      .max(10)
      .default(['systemctl', 'reboot'])
      .describe('Command (argv) that reboots the machine. The installer adds a polkit rule that lets the `preroll` user run `systemctl reboot`.'),
  })
  .prefault({})
  .describe('Buttons that affect the machine, off unless enabled.');

/**
 * MQTT / Home Assistant, webhooks, rclone upload and alerts. The first three are validated by
 * the integrations package itself (one set of bounds, documented in docs/integrations.md), with
 * its message naming the key; `notify` is a zod schema of that package, so its keys are listed
 * in docs/configuration.md too.
 */
const integrations = z
  .strictObject({
    mqtt: z.unknown().optional().describe('MQTT with Home Assistant discovery; keys in docs/integrations.md.'),
    webhooks: z.unknown().optional().describe('Signed webhooks; keys in docs/integrations.md.'),
    upload: z.unknown().optional().describe('rclone upload; keys in docs/integrations.md.'),
    notify: notifyConfigSchema.optional(),
  })
  .optional()
  .superRefine((value, ctx) => {
    if (value === undefined) return;
    try {
      resolveIntegrationsConfig(value as IntegrationsConfig, 'cam');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  })
  .transform((value) => value as IntegrationsConfig | undefined)
  .describe('MQTT with Home Assistant discovery (`mqtt`), signed webhooks (`webhooks`), rclone upload (`upload`) and alerts on the phone (`notify`); every key is in docs/integrations.md.');

/** The configuration file's schema. */
export const configSchema = z
  .strictObject({
    camera: camera.prefault({}),
    cameras: z
      .array(
        camera.extend({
          detector: z
            .strictObject({
              triggerLevel: z.number().min(0.1).max(65025).optional(),
              confirmFrames: z.int().min(1).max(1000).optional(),
              gapS: z.number().min(0).max(3600).optional(),
              mask: mask.optional(),
            })
            .optional()
            .describe('What differs from the shared `detector` section for this camera: trigger level, confirmation frames, gap, mask.'),
        }),
      )
      .min(1)
      .max(4)
      .optional()
      .describe(
        'Several cameras in one server (up to 4), each an object with the keys of `camera` plus an optional `detector` with what differs for it (ids must differ). When set, `camera` is not used. Each camera has its own capture, detector, pre-roll, recorder, live stream, trigger level and switches (`settings-<id>.json`) and integrations (MQTT topics and Home Assistant device per camera); recordings go to the one shared index, tagged with the camera id. The first camera is the one the plain API paths act on, and the GPIO button too unless `recording.gpio.camera` names another. Recording and retention settings are shared; the hidden look-back works with one camera only.',
      ),
    detector,
    recorder,
    recording,
    retention,
    labels,
    live,
    server,
    actions,
    integrations,
    arming: armingConfigSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const cameras = config.cameras ?? [];
    const seen = new Set<string>();
    cameras.forEach((entry, index) => {
      if (seen.has(entry.id)) ctx.addIssue({ code: 'custom', path: ['cameras', index, 'id'], message: `camera id "${entry.id}" is used twice` });
      seen.add(entry.id);
    });
    const gpioCamera = config.recording.gpio.camera;
    const ids = cameras.length ? cameras.map((c) => c.id) : [config.camera.id];
    if (gpioCamera !== null && !ids.includes(gpioCamera)) {
      ctx.addIssue({ code: 'custom', path: ['recording', 'gpio', 'camera'], message: `no camera "${gpioCamera}" (cameras: ${ids.join(', ')})` });
    }
    const sections = cameras.length ? cameras.map((c, index) => ({ triggers: c.triggers, path: ['cameras', index, 'triggers'] })) : [{ triggers: config.camera.triggers, path: ['camera', 'triggers'] }];
    for (const { triggers: t, path } of sections) {
      const index = t.sensors.findIndex((sensor) => sensor.kind === 'mqtt');
      if (index >= 0 && !(config.integrations as { mqtt?: unknown } | undefined)?.mqtt) {
        ctx.addIssue({ code: 'custom', path: [...path, 'sensors', index, 'topic'], message: 'an MQTT sensor needs the broker of integrations.mqtt' });
      }
    }
    if (cameras.length > 1 && config.recording.lookback.enabled) {
      ctx.addIssue({ code: 'custom', path: ['recording', 'lookback', 'enabled'], message: 'the hidden look-back works with one camera only; use continuous recording for memories of several cameras' });
    }
  })
  .describe('Preroll configuration');

/** The validated, defaulted configuration, frozen and passed down from the composition root. */
export type Config = z.infer<typeof configSchema>;
/** One camera's section (`camera`, or an entry of `cameras`). */
export type CameraConfig = Config['camera'];

/**
 * One configuration per camera: the whole configuration with `camera` set to that camera.
 * With `cameras` absent this is just `[config]`. Pure.
 */
export function perCamera(config: Readonly<Config>): Readonly<Config>[] {
  if (!config.cameras) return [config];
  return config.cameras.map(({ detector: own, ...entry }) =>
    Object.freeze({ ...config, camera: { ...entry }, detector: { ...config.detector, ...Object.fromEntries(Object.entries(own ?? {}).filter(([, v]) => v !== undefined)) } }),
  );
}
/** What a configuration file may contain (everything optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** One configured sensor (`camera.triggers.sensors[]`). */
export type SensorConfig = Config['camera']['triggers']['sensors'][number];
/** The trigger section of one camera. */
export type TriggersConfig = Config['camera']['triggers'];
