/** Errors thrown by animatorch, each naming what was wrong. */

/** An argument had the wrong type or value; the message names it and what was expected. */
export class InvalidParameterError extends TypeError {
  constructor(
    readonly parameter: string,
    readonly expected: string,
    readonly actual?: unknown,
  ) {
    super(`${parameter}: expected ${expected}${actual === undefined ? '' : `, got ${describe(actual)}`}`);
    this.name = 'InvalidParameterError';
  }
}

/** A tensor, module or pipeline was used after dispose(). */
export class DisposedError extends Error {
  constructor(readonly what: string) {
    super(`${what} was disposed; it cannot be used any more`);
    this.name = 'DisposedError';
  }
}

/** The native addon could not be loaded; the message lists likely causes and fixes. */
export class NativeLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeLoadError';
  }
}

/** A long operation stopped because its AbortSignal fired. */
export class AbortError extends Error {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.slice(0, 8).map(describe).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return String(value);
}

/** Throws an AbortError carrying the signal's reason when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('The operation was aborted', { cause: signal.reason });
}
