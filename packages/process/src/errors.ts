/** Stable error codes of the process package. */
export type ProcessErrorCode = 'PROC_BINARY_NOT_FOUND' | 'PROC_SPAWN_FAILED' | 'PROC_EXITED' | 'PROC_TIMEOUT';

/** An error from a child process, with a stable code, the offending value and the cause. */
export class ProcessError extends Error {
  override readonly name = 'ProcessError';
  constructor(
    readonly code: ProcessErrorCode,
    message: string,
    readonly details: { command?: string; exitCode?: number | null; signal?: string | null; stderrTail?: string[] } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
