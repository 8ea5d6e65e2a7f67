import { describeExit, redactArgs, redactUrl, spawnChild } from '../src/index';

describe('redaction of secrets in logged command lines', () => {
  test.each([
    ['rtsp://admin:hunter2@cam.local:554/stream', 'rtsp://admin:***@cam.local:554/stream'],
    ['http://pi:8080/stream.mjpg?token=abc123&x=1', 'http://pi:8080/stream.mjpg?token=***&x=1'],
    ['https://host/feed?user=me&password=secret#frag', 'https://host/feed?user=me&password=***#frag'],
    ['http://host/plain/path', 'http://host/plain/path'],
    ['not a url', 'not a url'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  test('values after secret-carrying options are hidden', () => {
    expect(redactArgs(['-i', 'rtsp://u:p@h/s', '-password', 'pw', '-y'])).toEqual(['-i', 'rtsp://u:***@h/s', '-password', '***', '-y']);
  });

  test("a child's stderr lines are kept without the credentials of the URLs in them", async () => {
    // What ffmpeg prints about its input: the URL with the password, and its own errors.
    const script = "echo \"Input #0, rtsp, from 'rtsp://admin:hunter2@127.0.0.1:554/live':\" >&2; echo 'rtsp://admin:hunter2@127.0.0.1:554/live: Connection refused' >&2; printf 'last http://x/s?token=abc' >&2; exit 1";
    const child = spawnChild({ name: 'redaction', command: 'sh', args: ['-c', script] });
    const exit = await child.exited;
    const text = `${exit.stderrTail.join('\n')}\n${child.stderrTail().join('\n')}\n${describeExit(exit)}`;
    expect(text).toContain("rtsp://admin:***@127.0.0.1:554/live");
    expect(text).toContain('token=***');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('abc');
  });
});
