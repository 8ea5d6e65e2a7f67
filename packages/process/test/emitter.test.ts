import { createEmitter } from '../src';

describe('createEmitter', () => {
  test('calls listeners in order, removes them, and survives a throwing one', () => {
    const errors: string[] = [];
    const emitter = createEmitter<[number, string]>('test', { error: (_fields, message) => errors.push(message) });
    const heard: string[] = [];
    const offA = emitter.on((n, s) => heard.push(`a${n}${s}`));
    emitter.on(() => {
      throw new Error('boom');
    });
    emitter.on((n) => heard.push(`c${n}`));
    emitter.emit(1, 'x');
    expect(heard).toEqual(['a1x', 'c1']);
    expect(errors).toEqual(['test: a listener threw']);
    offA();
    emitter.emit(2, 'y');
    expect(heard).toEqual(['a1x', 'c1', 'c2']);
    expect(emitter.size).toBe(2);
    emitter.clear();
    emitter.emit(3, 'z');
    expect(heard).toHaveLength(3);
  });

  test('a listener that removes itself while the event is emitted does not skip the next one', () => {
    const emitter = createEmitter<[]>('test');
    const heard: string[] = [];
    const off = emitter.on(() => {
      heard.push('once');
      off();
    });
    emitter.on(() => heard.push('always'));
    emitter.emit();
    emitter.emit();
    expect(heard).toEqual(['once', 'always', 'always']);
  });
});
