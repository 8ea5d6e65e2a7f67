import { createLatestSlot } from '../src/index';

describe('createLatestSlot', () => {
  test('keeps only the newest value and counts the ones it replaced', () => {
    const slot = createLatestSlot<number>();
    slot.put(1);
    slot.put(2);
    slot.put(3);
    expect(slot.take()).toBe(3);
    expect(slot.take()).toBeNull();
    expect(slot.dropped).toBe(2);
  });

  test('next() waits for the next put and close() rejects it', async () => {
    const slot = createLatestSlot<string>();
    const pending = slot.next();
    slot.put('a');
    await expect(pending).resolves.toBe('a');
    expect(slot.dropped).toBe(0);
    const waiting = slot.next();
    slot.close();
    await expect(waiting).rejects.toThrow('slot closed');
  });
});
