import { createRestartSupervisor } from '../src';

describe('createRestartSupervisor', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());
  const backoff = { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 5000 };

  test('restarts after growing delays, once at a time, and gives up after maxConsecutive', () => {
    const supervisor = createRestartSupervisor({ backoff, maxConsecutive: 3 });
    let runs = 0;
    const restart = (): void => {
      runs++;
    };
    expect(supervisor.failed(10, restart)).toBe(100);
    expect(supervisor.failed(10, restart)).toBe(100); // already pending: kept
    expect(supervisor.pending).toBe(true);
    jest.advanceTimersByTime(100);
    expect(runs).toBe(1);
    expect(supervisor.failed(10, restart)).toBe(200);
    jest.advanceTimersByTime(200);
    expect(supervisor.failed(10, restart)).toBe(400);
    jest.advanceTimersByTime(400);
    expect(supervisor.failed(10, restart)).toBeNull();
    expect(runs).toBe(3);
    expect(supervisor.restarts).toBe(3);
  });

  test('a healthy run or a reset starts the delays over; cancel stops a pending restart', () => {
    const supervisor = createRestartSupervisor({ backoff, maxConsecutive: 2 });
    let runs = 0;
    supervisor.failed(10, () => runs++);
    jest.advanceTimersByTime(100);
    supervisor.failed(10, () => runs++);
    jest.advanceTimersByTime(200);
    // Ran 6 s: healthy, so neither the delay nor the give-up count carries over.
    expect(supervisor.failed(6000, () => runs++)).toBe(100);
    supervisor.cancel();
    jest.advanceTimersByTime(1000);
    expect(runs).toBe(2);
    supervisor.reset();
    expect(supervisor.failed(10, () => runs++)).toBe(100);
    jest.advanceTimersByTime(100);
    expect(runs).toBe(3);
  });
});
