/** The dtypes and devices tensors accept, and their checks. */
import { InvalidParameterError } from './errors';
import { assertOneOf } from './validate';

/** The dtypes animatorch supports, and libtorch's name for each (c10::toString, what the addon speaks). */
const TORCH_NAMES = {
  float32: 'Float',
  float16: 'Half',
  bfloat16: 'BFloat16',
  float64: 'Double',
  int64: 'Long',
  int32: 'Int',
  int16: 'Short',
  int8: 'Char',
  uint8: 'Byte',
  bool: 'Bool',
} as const;
export type DType = keyof typeof TORCH_NAMES;
export const DTYPES = Object.keys(TORCH_NAMES) as readonly DType[];
/** Factories and host data of JS numbers make float32 tensors, as torch does. */
export const DEFAULT_DTYPE: DType = 'float32';

const FROM_TORCH = new Map<string, DType>(Object.entries(TORCH_NAMES).map(([ours, torch]) => [torch, ours as DType]));

/** libtorch's name of a dtype, for the addon. */
export const torchDtype = (dtype: DType): string => TORCH_NAMES[dtype];
/** Our name of a dtype the addon reports (an unsupported one keeps libtorch's name, e.g. 'ComplexFloat'). */
export const dtypeFromTorch = (name: string): DType => FROM_TORCH.get(name) ?? (name as DType);
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
