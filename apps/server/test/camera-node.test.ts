import { request, startTestServer, waitFor } from './server-helpers';

describe('a Preroll as a camera node for another Preroll', () => {
  test.each([
    // MJPEG: the camera's JPEGs are the pre-roll; the detector's frames are decoded at half size
    // (480 px wide: the largest reduction that keeps the detector's 160 px of analysis width).
    ['MJPEG', 'stream.mjpg', 'mjpeg', { width: 240, height: 134 }],
    ['H.264 (fragmented MP4)', 'stream.mp4', 'passthrough', { width: 480, height: 270 }],
  ])('the central server ingests the node\'s password-protected %s stream with a url: source and records its motion', async (_name, path, recordingPath, frameSize) => {
    const node = await startTestServer({ camera: { source: 'demo', width: 480, height: 270 }, password: 'node password 123', live: { width: 480, maxFps: 10, jpegQuality: 80 } });
    try {
      const login = await request(`${node.url}/api/login`, 'POST', { password: 'node password 123' });
      const cookie = login.headers.get('set-cookie')!.split(';')[0];
      const { token } = (await request(`${node.url}/api/stream-token`, 'GET', undefined, { Cookie: cookie })).body;
      // Without the token the stream is closed.
      expect((await fetch(`${node.url}/${path}`)).status).toBe(401);
      const central = await startTestServer({ camera: { id: 'garden', source: `url:${node.url}/${path}?token=${token}` } });
      try {
        const status = await waitFor(async () => {
          const s = (await request(`${central.url}/api/status`, 'GET')).body;
          // The node's H.264 or JPEGs are recorded as they come; detection decodes up to 5 frames
          // a second of them (fewer when a loaded machine slows the node's live view).
          return s.captureState === 'running' && s.fps > 0 ? s : null;
        }, 30_000, 'frames from the node');
        expect(status).toMatchObject({ ...frameSize, captureState: 'running' });
        expect(status.recordingPath.mode).toBe(recordingPath);
        expect(status.source).not.toContain(token);
        expect(JSON.stringify(status)).not.toContain(token);
        // The demo's object crosses at 10-14 s of every 20 s: the central server records it.
        const event = await waitFor(async () => (await request(`${central.url}/api/events?kind=motion`, 'GET')).body.items[0], 45_000, 'a motion event on the central server');
        expect(event).toMatchObject({ camera: 'garden', width: 480, height: 270 });
        expect(event.durationS).toBeGreaterThan(3);
      } finally {
        await central.stop();
      }
    } finally {
      await node.stop();
    }
  }, 90_000);
});
