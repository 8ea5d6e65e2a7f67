import type { Runtime } from '../runtime/runtime';

/** `GET /metrics`: each camera's status in Prometheus text exposition format, labelled by camera. */
export function prometheusMetrics(runtimes: readonly Runtime[]): string {
  const statuses = runtimes.map((r) => r.status());
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: (s: (typeof statuses)[number]) => number, perCamera = true): void => {
    lines.push(`# HELP preroll_${name} ${help}`, `# TYPE preroll_${name} ${type}`);
    for (const s of perCamera ? statuses : statuses.slice(0, 1)) {
      const v = value(s);
      lines.push(`preroll_${name}${perCamera ? `{camera="${s.camera}"}` : ''} ${Number.isFinite(v) ? v : 0}`);
    }
  };
  metric('capture_fps', 'gauge', 'Frames per second delivered by the camera.', (s) => s.fps);
  metric('dropped_frames_total', 'counter', 'Frames lost by the camera or the encoder.', (s) => s.droppedFrames);
  metric('motion_score', 'gauge', 'Latest motion score (0..65025).', (s) => s.score);
  metric('trigger_level', 'gauge', 'Motion trigger level.', (s) => s.triggerLevel);
  metric('motion_enabled', 'gauge', '1 when motion detection is on.', (s) => (s.motionEnabled ? 1 : 0));
  metric('recording', 'gauge', '1 while a clip is being recorded.', (s) => (s.recording ? 1 : 0));
  metric('live_viewers', 'gauge', 'Live view subscribers.', (s) => s.live.viewers);
  metric('live_jpeg_encodes_total', 'counter', 'Live JPEGs encoded.', (s) => s.live.encodes);
  metric('events', 'gauge', 'Recordings in the index (all cameras).', (s) => s.events.count, false);
  metric('events_bytes', 'gauge', 'Bytes of all recordings.', (s) => s.events.bytes, false);
  metric('disk_used_percent', 'gauge', 'Used space of the data filesystem.', (s) => s.disk?.usedPct ?? 0, false);
  metric('uptime_seconds', 'counter', 'Seconds since start.', (s) => s.uptimeS, false);
  // Per sensor: labelled by camera and sensor name (names are [a-z0-9_-], safe in a label).
  const sensorMetric = (name: string, type: 'gauge' | 'counter', help: string, value: (sensor: (typeof statuses)[number]['triggers']['sensors'][number]) => number): void => {
    lines.push(`# HELP preroll_${name} ${help}`, `# TYPE preroll_${name} ${type}`);
    for (const s of statuses) for (const sensor of s.triggers.sensors) lines.push(`preroll_${name}{camera="${s.camera}",sensor="${sensor.name}"} ${value(sensor)}`);
  };
  sensorMetric('sensor_on', 'gauge', '1 while the sensor last said "on".', (sensor) => (sensor.state === 'on' ? 1 : 0));
  sensorMetric('sensor_cues_total', 'counter', 'Cues ("on") the sensor gave since start.', (sensor) => sensor.cues);
  sensorMetric('sensor_ignored_total', 'counter', 'Sensor messages or calls not taken (retained, unreadable, too soon, detection off).', (sensor) => sensor.ignored);
  sensorMetric('sensor_last_cue_timestamp_seconds', 'gauge', 'Unix time of the last cue (0: none yet).', (sensor) => (sensor.lastCueAt ? Date.parse(sensor.lastCueAt) / 1000 : 0));
  sensorMetric('sensor_reader_restarts_total', 'counter', 'Restarts of the gpiomon reading a GPIO sensor.', (sensor) => sensor.reader?.restarts ?? 0);
  return `${lines.join('\n')}\n`;
}
