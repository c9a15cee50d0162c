/**
 * A native failure that surfaces in a promise has no JS stack (the addon settles it
 * from its worker). As sharp's is.nativeError does, the wrapper captures an Error where
 * the JS call was made and, on failure, gives it the native message: the rejection then
 * points at the caller's line. Its prototype follows the native error (TypeError stays
 * a TypeError); `cause` keeps the original.
 */
export function nativeError(native: unknown, caller: Error): unknown {
  if (!(native instanceof Error)) return native;
  Object.setPrototypeOf(caller, Object.getPrototypeOf(native) as object);
  caller.name = native.name;
  caller.message = native.message;
  Object.defineProperty(caller, 'cause', { value: native, configurable: true, writable: true });
  // The stack was rendered with the placeholder message: put the real one in its first line.
  const frames = caller.stack?.indexOf('\n    at') ?? -1;
  if (frames >= 0) caller.stack = `${native.name}: ${native.message}${caller.stack!.slice(frames)}`;
  return caller;
}
