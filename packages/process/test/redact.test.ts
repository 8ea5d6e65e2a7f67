import { redactArgs, redactUrl } from '../src/index';

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
});
