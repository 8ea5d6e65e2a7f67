import type { Runtime } from '../runtime/runtime';

/** `GET /metrics`: the status in Prometheus text exposition format. */
export function prometheusMetrics(runtime: Runtime): string {
  const s = runtime.status();
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
    lines.push(`# HELP preroll_${name} ${help}`, `# TYPE preroll_${name} ${type}`, `preroll_${name} ${Number.isFinite(value) ? value : 0}`);
  };
  metric('capture_fps', 'gauge', 'Frames per second delivered by the camera.', s.fps);
  metric('dropped_frames_total', 'counter', 'Frames lost by the camera or the encoder.', s.droppedFrames);
  metric('motion_score', 'gauge', 'Latest motion score (0..65025).', s.score);
  metric('trigger_level', 'gauge', 'Motion trigger level.', s.triggerLevel);
  metric('motion_enabled', 'gauge', '1 when motion detection is on.', s.motionEnabled ? 1 : 0);
  metric('recording', 'gauge', '1 while a clip is being recorded.', s.recording ? 1 : 0);
  metric('events', 'gauge', 'Recordings in the index.', s.events.count);
  metric('events_bytes', 'gauge', 'Bytes of all recordings.', s.events.bytes);
  metric('disk_used_percent', 'gauge', 'Used space of the data filesystem.', s.disk?.usedPct ?? 0);
  metric('live_viewers', 'gauge', 'Live view subscribers.', s.live.viewers);
  metric('live_jpeg_encodes_total', 'counter', 'Live JPEGs encoded.', s.live.encodes);
  metric('uptime_seconds', 'counter', 'Seconds since start.', s.uptimeS);
  return `${lines.join('\n')}\n`;
}
