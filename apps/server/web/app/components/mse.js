// Live H.264 through Media Source Extensions from the recorder's fragmented MP4 (/stream.mp4):
// ManagedMediaSource where it exists (iOS Safari 17+), else MediaSource. The player follows the
// live edge: a little faster when it lags, a jump when it is more than a second behind, and the
// buffer behind the playhead is trimmed so memory stays flat for hours.

/** Further behind than this, the player jumps to the live edge. */
export const MAX_BEHIND_S = 1.0;
/** Where a jump lands, before the newest picture (room for the next fragments to arrive). */
const JUMP_TO_S = 0.15;
/** Seconds kept behind the playhead. */
const KEEP_BEHIND_S = 8;
/** No bytes for this long: the stream is stalled. */
const STALL_MS = 5000;

/** The MediaSource class this browser has, or null. */
export function mediaSourceClass() {
  return window.ManagedMediaSource || window.MediaSource || null;
}

/** The `avc1.PPCCLL` codec string from an init segment's avcC box, or null while it is incomplete. Pure. */
export function avcCodec(bytes) {
  for (let i = 4; i + 8 <= bytes.length; i++) {
    if (bytes[i] === 0x61 && bytes[i + 1] === 0x76 && bytes[i + 2] === 0x63 && bytes[i + 3] === 0x43) {
      const hex = (b) => b.toString(16).padStart(2, '0').toUpperCase();
      return `avc1.${hex(bytes[i + 5])}${hex(bytes[i + 6])}${hex(bytes[i + 7])}`;
    }
  }
  return null;
}

/** True when this browser can play the live H.264 (a Main/High profile string is the demanding case). */
export function canPlayLiveH264() {
  const MS = mediaSourceClass();
  return Boolean(MS && MS.isTypeSupported && MS.isTypeSupported('video/mp4; codecs="avc1.42E01E"'));
}

function concat(chunks) {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Plays `url` in `video`. Callbacks: `onBytes(n)` per chunk received, `onError(error)` once
 * when the session fails (the caller retries or falls back), `onUnauthorized()` for a 401.
 * Returns `stop()`.
 */
export function playLiveMp4(video, url, { onBytes, onError, onUnauthorized }) {
  const MS = mediaSourceClass();
  const controller = new AbortController();
  const source = new MS();
  const objectUrl = URL.createObjectURL(source);
  let buffer = null;
  let stopped = false;
  let stallTimer = null;
  const queue = [];

  const fail = (error) => {
    if (stopped) return;
    stop();
    onError(error);
  };
  const armStall = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => fail(new Error('no video for 5 s')), STALL_MS);
  };

  const followLiveEdge = () => {
    const ranges = buffer.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const start = ranges.start(0);
    const behind = end - video.currentTime;
    if (video.currentTime < ranges.start(ranges.length - 1) || behind > MAX_BEHIND_S) video.currentTime = Math.max(ranges.start(ranges.length - 1), end - JUMP_TO_S);
    else video.playbackRate = behind > 0.5 ? 1.15 : 1;
    if (video.currentTime - start > KEEP_BEHIND_S + 4) {
      buffer.remove(start, video.currentTime - KEEP_BEHIND_S);
      return;
    }
    if (video.paused) video.play().catch((error) => console.debug('live video not playing yet', error.message));
  };

  const pump = () => {
    if (stopped || !buffer || buffer.updating) return;
    if (queue.length) {
      try {
        buffer.appendBuffer(concat(queue.splice(0)));
      } catch (error) {
        fail(error);
      }
      return;
    }
    followLiveEdge();
  };

  const read = async () => {
    const response = await fetch(url, { signal: controller.signal, cache: 'no-store' });
    if (response.status === 401) {
      stop();
      onUnauthorized();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`the stream answered ${response.status}`);
    const reader = response.body.getReader();
    const head = [];
    armStall();
    for (;;) {
      const { value, done } = await reader.read();
      if (stopped) return;
      if (done) throw new Error('the stream ended');
      armStall();
      onBytes(value.byteLength);
      if (!buffer) {
        head.push(value);
        const bytes = concat(head);
        const codec = avcCodec(bytes);
        if (!codec) {
          if (bytes.length > 1_000_000) throw new Error('no H.264 track in the stream');
          continue;
        }
        const type = `video/mp4; codecs="${codec}"`;
        if (!MS.isTypeSupported(type)) throw new Error(`this browser cannot play ${codec}`);
        buffer = source.addSourceBuffer(type);
        buffer.mode = 'segments';
        buffer.addEventListener('updateend', pump);
        buffer.addEventListener('error', () => fail(new Error('the video decoder refused the stream')));
        queue.push(bytes);
      } else {
        queue.push(value);
      }
      pump();
    }
  };

  source.addEventListener(
    'sourceopen',
    () => {
      read().catch((error) => {
        if (!stopped && error.name !== 'AbortError') fail(error);
      });
    },
    { once: true },
  );
  // ManagedMediaSource plays only with remote playback (AirPlay) off.
  video.disableRemotePlayback = true;
  video.src = objectUrl;

  function stop() {
    if (stopped) return;
    stopped = true;
    clearTimeout(stallTimer);
    controller.abort();
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(objectUrl);
  }
  return stop;
}
