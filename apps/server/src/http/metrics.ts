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
  return `${lines.join('\n')}\n`;
}
