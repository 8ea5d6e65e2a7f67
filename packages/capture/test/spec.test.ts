import { boardFromModel, CaptureError, describeSpec, parseSourceSpec, parseCameraList } from '../src/index';

describe('parseSourceSpec', () => {
  test.each([
    ['demo', { kind: 'demo' }],
    ['rpicam', { kind: 'rpicam' }],
    ['rpicam:1280x720', { kind: 'rpicam', width: 1280, height: 720 }],
    ['rpicam:1920x1080@30', { kind: 'rpicam', width: 1920, height: 1080, fps: 30 }],
    ['rpicam:640x480@7.5#1', { kind: 'rpicam', width: 640, height: 480, fps: 7.5, camera: 1 }],
    ['file:/tmp/a:b.mp4', { kind: 'file', path: '/tmp/a:b.mp4' }],
    ['v4l2:/dev/video0', { kind: 'v4l2', device: '/dev/video0' }],
    ['url:rtsp://cam.local:554/stream', { kind: 'url', url: 'rtsp://cam.local:554/stream' }],
    ['url:http://10.0.0.5:8080/stream.mjpg', { kind: 'url', url: 'http://10.0.0.5:8080/stream.mjpg' }],
  ])('%s', (text, expected) => {
    expect(parseSourceSpec(text)).toEqual(expected);
  });

  test.each([
    ['camera', 'CAPTURE_BAD_SPEC'],
    ['', 'CAPTURE_BAD_SPEC'],
    ['file:', 'CAPTURE_BAD_SPEC'],
    ['rpicam:1280', 'CAPTURE_BAD_SPEC'],
    ['rpicam:1281x720', 'CAPTURE_BAD_SIZE'],
    ['rpicam:16x16', 'CAPTURE_BAD_SIZE'],
    ['rpicam:8192x720', 'CAPTURE_BAD_SIZE'],
    ['rpicam:640x480@500', 'CAPTURE_BAD_SIZE'],
    ['v4l2:video0', 'CAPTURE_BAD_SPEC'],
    ['v4l2:/dev/../etc/passwd', 'CAPTURE_BAD_SPEC'],
    ['url:file:///etc/passwd', 'CAPTURE_UNSUPPORTED_URL'],
    ['url:ftp://host/x', 'CAPTURE_UNSUPPORTED_URL'],
    ['url:not a url', 'CAPTURE_UNSUPPORTED_URL'],
  ])('rejects %j with %s', (text, code) => {
    expect(() => parseSourceSpec(text)).toThrow(CaptureError);
    try {
      parseSourceSpec(text);
    } catch (error) {
      expect((error as CaptureError).code).toBe(code);
      expect((error as CaptureError).value).toBeDefined();
    }
  });

  test('describeSpec hides URL passwords', () => {
    expect(describeSpec(parseSourceSpec('url:rtsp://admin:secret@cam/stream'))).toBe('url:rtsp://admin:***@cam/stream');
  });
});

describe('boardFromModel', () => {
  test.each([
    ['Raspberry Pi 5 Model B Rev 1.0', true, 128],
    ['Raspberry Pi Compute Module 5 Rev 1.0', true, 128],
    ['Raspberry Pi 4 Model B Rev 1.4', true, 64],
    ['Raspberry Pi Zero 2 W Rev 1.0', true, 64],
    ['Raspberry Pi 3 Model B Plus Rev 1.3', true, 64],
    [null, false, 64],
  ])('%s', (model, isPi, align) => {
    const board = boardFromModel(model);
    expect(board.isRaspberryPi).toBe(isPi);
    expect(board.strideAlign).toBe(align);
  });
});

test('parseCameraList finds camera lines only', () => {
  const text = 'Available cameras\n-----------------\n0 : imx708 [4608x2592 10-bit RGGB] (/base/x)\n    Modes: ...\n1 : ov5647 [2592x1944]\n';
  expect(parseCameraList(text)).toEqual(['0 : imx708 [4608x2592 10-bit RGGB] (/base/x)', '1 : ov5647 [2592x1944]']);
  expect(parseCameraList('No cameras available!')).toEqual([]);
});
