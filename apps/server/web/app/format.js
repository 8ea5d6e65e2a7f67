// Formatting shared by the views. Pure.

/** A trigger level or score as the page shows it. */
export function formatLevel(level) {
  if (typeof level !== 'number' || !Number.isFinite(level)) return '–';
  // Levels under 1 are common since the score counts only change that stands out of the noise.
  return level >= 100 ? level.toFixed(0) : level >= 1 ? level.toFixed(1) : String(Math.round(level * 100) / 100);
}

/** Minutes as "3 min" or "40 s". */
export function formatMinutes(minutes) {
  return minutes >= 1 ? `${Math.round(minutes * 10) / 10} min` : `${Math.round(minutes * 60)} s`;
}

/** An uptime. */
export function formatDuration(s) {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d ? `${d} d ` : ''}${h} h ${m} min`;
}

/** A running time as m:ss. */
export function formatClock(totalS) {
  const s = Math.max(0, Math.floor(totalS));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Bytes per second as megabytes per hour. */
export function mbPerHour(bytesPerS) {
  if (typeof bytesPerS !== 'number' || !Number.isFinite(bytesPerS)) return null;
  const mb = (bytesPerS * 3600) / 1e6;
  return mb >= 100 ? `${Math.round(mb)} MB/h` : `${mb.toFixed(1)} MB/h`;
}

/** The local time of an ISO date, hh:mm:ss. */
export function timeOf(iso) {
  return new Date(iso).toLocaleTimeString();
}

/** A day heading. */
export function dayTitle(day) {
  return new Date(`${day}T12:00:00`).toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}
