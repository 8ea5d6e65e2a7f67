/** What an emitter logs a throwing listener with (a pino logger fits). */
export interface EmitterLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * A set of listeners of one kind of event. `on` returns the function that removes the
 * listener; `emit` calls every listener in the order they were added, and a listener that
 * throws is logged and does not keep the others from hearing the event.
 */
export interface Emitter<A extends unknown[]> {
  on(listener: (...args: A) => void): () => void;
  emit(...args: A): void;
  /** Removes every listener (on close). */
  clear(): void;
  readonly size: number;
}

/** Creates an emitter; `name` and `logger` say where a throwing listener was. */
export function createEmitter<A extends unknown[]>(name: string, logger?: EmitterLogger | (() => EmitterLogger | undefined)): Emitter<A> {
  const listeners = new Set<(...args: A) => void>();
  return {
    on(listener) {
      // A listener added twice is called twice and removed by each of its own functions.
      const entry = (...args: A): void => listener(...args);
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    emit(...args) {
      for (const listener of [...listeners]) {
        try {
          listener(...args);
        } catch (error) {
          const log = typeof logger === 'function' ? logger() : logger;
          log?.error({ err: error }, `${name}: a listener threw`);
        }
      }
    },
    clear() {
      listeners.clear();
    },
    get size() {
      return listeners.size;
    },
  };
}
