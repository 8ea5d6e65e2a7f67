import { thumbnailCrop } from '../src';

describe('thumbnailCrop', () => {
  const cases: Array<[string, number, number, Array<{ x: number; y: number; width: number; height: number }>, { x: number; y: number; width: number; height: number }]> = [
    // No motion boxes: the largest centred 16:9 crop.
    ['no boxes, 4:3 frame', 640, 480, [], { x: 0, y: 60, width: 640, height: 360 }],
    ['no boxes, 16:9 frame', 1280, 720, [], { x: 0, y: 0, width: 1280, height: 720 }],
    // A small box: never smaller than 160 px wide (at most 2x enlargement of a 320 px thumbnail), centred on it.
    ['small box in the middle', 640, 480, [{ x: 0.5, y: 0.5, width: 0.05, height: 0.05 }], { x: 256, y: 206, width: 160, height: 90 }],
    // Two boxes: their union with a 25 % margin, widened to 16:9.
    ['union of two boxes', 1280, 720, [{ x: 0.1, y: 0.4, width: 0.1, height: 0.2 }, { x: 0.3, y: 0.4, width: 0.1, height: 0.2 }], { x: 32, y: 198, width: 576, height: 324 }],
    // Near the edge: moved inside the frame, shape kept.
    ['box at the right edge', 640, 480, [{ x: 0.95, y: 0.9, width: 0.05, height: 0.1 }], { x: 480, y: 390, width: 160, height: 90 }],
    // Boxes larger than the frame allows: clamped to the frame, still 16:9.
    ['whole-frame box', 640, 480, [{ x: 0, y: 0, width: 1, height: 1 }], { x: 0, y: 60, width: 640, height: 360 }],
  ];
  test.each(cases)('%s', (_name, width, height, boxes, expected) => {
    expect(thumbnailCrop(width, height, boxes)).toEqual(expected);
  });

  test('ignores boxes that are not finite or empty', () => {
    expect(thumbnailCrop(640, 480, [{ x: Number.NaN, y: 0, width: 1, height: 1 }, { x: 0.2, y: 0.2, width: 0, height: 0.1 }])).toEqual(thumbnailCrop(640, 480, []));
  });
});
