import { PtsPairer } from '../src/pts';

describe('PtsPairer', () => {
  test('pairs in order whichever side arrives first', () => {
    const out: [string, number, boolean][] = [];
    const pairer = new PtsPairer<string>((item, pts, fromStream) => out.push([item, pts, fromStream]), { waitMs: 1000, useStream: true });
    pairer.pushPts(0);
    pairer.pushFrame('a', 500);
    pairer.pushFrame('b', 600);
    pairer.pushFrame('c', 700);
    pairer.pushPts(33_333);
    pairer.pushPts(66_667);
    pairer.close();
    expect(out).toEqual([
      ['a', 0, true],
      ['b', 33_333, true],
      ['c', 66_667, true],
    ]);
  });

  test('falls back to arrival time when timestamps lag', async () => {
    const out: [string, number, boolean][] = [];
    const reasons: string[] = [];
    const pairer = new PtsPairer<string>((item, pts, fromStream) => out.push([item, pts, fromStream]), {
      waitMs: 30,
      useStream: true,
      onFallback: (reason) => reasons.push(reason),
    });
    pairer.pushFrame('a', 100);
    pairer.pushFrame('b', 200);
    await new Promise((resolve) => setTimeout(resolve, 60));
    pairer.pushPts(5);
    pairer.pushFrame('c', 300);
    pairer.close();
    expect(out).toEqual([
      ['a', 100, false],
      ['b', 200, false],
      ['c', 300, false],
    ]);
    expect(reasons).toHaveLength(1);
    expect(pairer.paired).toBe(false);
  });
});
