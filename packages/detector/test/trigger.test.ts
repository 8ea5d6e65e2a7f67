import { ceilToLadder, clampTriggerLevel, stepTriggerLevel, triggerLadder } from '../src/trigger';

describe('trigger level ladder', () => {
  test('the ladder has 10 nice rungs per decade', () => {
    expect(triggerLadder(1, 100)).toEqual([1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100]);
    expect(triggerLadder(0.1, 0.3)).toEqual([0.1, 0.12, 0.15, 0.2, 0.25, 0.3]);
  });

  test.each([
    [6, 1, 8],
    [6, -1, 5],
    [1, -1, 0.8],
    [100, 1, 120],
    [7, 1, 8],
    [7, -1, 6],
    [65025, 1, 65025],
    [0.1, -1, 0.1],
    [60000, 1, 65025],
  ])('from %d step %d gives %d', (level, dir, expected) => {
    expect(stepTriggerLevel(level, dir as 1 | -1, 0.1, 65025)).toBe(expected);
  });

  test('the step grows with the level (each step is 20–34 % of the level)', () => {
    for (const level of triggerLadder(1, 60000)) {
      const up = stepTriggerLevel(level, 1, 0.1, 65025);
      const ratio = up / level - 1;
      if (up === 65025) continue;
      expect(ratio).toBeGreaterThanOrEqual(0.19);
      expect(ratio).toBeLessThanOrEqual(0.34);
    }
  });

  test('up then down returns to a rung', () => {
    for (const level of triggerLadder(0.2, 50000)) expect(stepTriggerLevel(stepTriggerLevel(level, 1, 0.1, 65025), -1, 0.1, 65025)).toBe(level);
  });

  test.each([
    [-5, 0.1],
    [Number.NaN, 0.1],
    [1e9, 65025],
    [42, 42],
  ])('clamp(%d) = %d', (value, expected) => {
    expect(clampTriggerLevel(value, 0.1, 65025)).toBe(expected);
  });

  test.each([
    [3.1, 4],
    [4, 4],
    [0.01, 0.1],
    [70000, 65025],
  ])('ceilToLadder(%d) = %d', (value, expected) => {
    expect(ceilToLadder(value, 0.1, 65025)).toBe(expected);
  });
});
