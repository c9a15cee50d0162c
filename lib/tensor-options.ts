/** The dtypes and devices tensors accept, and their checks. */
import { InvalidParameterError } from './errors';
import { assertOneOf } from './validate';

export const DTYPES = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];
/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = string;

export interface TensorOptions {
  /** Default: float32 for factories; the data's own type for `tensor()` with a typed array. */
  dtype?: DType;
  /** Default: 'cpu'. */
  device?: Device;
}

const DEVICE_RE = /^(cpu|cuda(:\d{1,3})?)$/;

export function assertDevice(name: string, v: unknown): asserts v is Device {
  if (typeof v !== 'string' || !DEVICE_RE.test(v)) throw new InvalidParameterError(name, "'cpu', 'cuda' or 'cuda:N'", v);
}

export function assertDtype(name: string, v: unknown): asserts v is DType {
  assertOneOf(name, v, DTYPES);
}

/** Whether two device strings name the same device ('cuda' is 'cuda:0'). */
export const sameDevice = (a: Device, b: Device): boolean => a === b || (a === 'cuda' && b === 'cuda:0') || (a === 'cuda:0' && b === 'cuda');
