/** .safetensors headers: tensor names, dtypes and shapes from the JSON header; no tensor data is read. */
import { open } from 'node:fs/promises';
import type { TensorInfo } from './types';

export const MAX_HEADER = 100 * 1024 * 1024;

/** Reads a .safetensors header: tensor name -> {dtype, shape}, plus __metadata__. Reads no tensor data. */
export async function readSafetensorsHeader(file: string): Promise<{ tensors: Record<string, TensorInfo>; metadata?: Record<string, string>; headerBytes: number }> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const lenBuf = Buffer.alloc(8);
    if ((await fh.read(lenBuf, 0, 8, 0)).bytesRead !== 8) throw new Error('file is shorter than the 8-byte safetensors header length');
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(Math.min(MAX_HEADER, size - 8))) throw new Error(`not a safetensors file (header length ${len} exceeds the file size or 100 MB)`);
    const json = Buffer.alloc(Number(len));
    await fh.read(json, 0, json.length, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch (err) {
      throw new Error(`not a safetensors file (header is not JSON: ${(err as Error).message})`);
    }
    const tensors: Record<string, TensorInfo> = {};
    let metadata: Record<string, string> | undefined;
    // The data after the header: every tensor's data_offsets must lie in it, match its size, and (as the
    // safetensors library checks) together cover it without gaps: a file cut short fails here, not at load time.
    const dataBytes = size - 8 - json.length;
    const spans: [number, number, string][] = [];
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown };
      if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape)) throw new Error(`not a safetensors file (entry ${JSON.stringify(k)} has no dtype/shape)`);
      tensors[k] = { dtype: SAFETENSORS_DTYPES[t.dtype] ?? t.dtype.toLowerCase(), shape: t.shape.map(Number) };
      const off = (v as { data_offsets?: unknown }).data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[0] > off[1])
        throw new Error(`invalid safetensors file: tensor ${JSON.stringify(k)} has no valid data_offsets (got ${JSON.stringify(off)})`);
      const [begin, end] = off as [number, number];
      if (end > dataBytes)
        throw new Error(`invalid safetensors file: tensor ${JSON.stringify(k)}'s data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes; is the file cut short?)`);
      const itemBytes = DTYPE_BYTES[t.dtype];
      const numel = tensors[k]!.shape.reduce((a, b) => a * b, 1);
      if (itemBytes !== undefined && end - begin !== numel * itemBytes)
        throw new Error(`invalid safetensors file: tensor ${JSON.stringify(k)} (${t.dtype} [${tensors[k]!.shape.join(', ')}]) needs ${numel * itemBytes} bytes, its data_offsets [${begin}, ${end}] hold ${end - begin}`);
      spans.push([begin, end, k]);
    }
    spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let covered = 0;
    for (const [begin, end, k] of spans) {
      if (begin !== covered) throw new Error(`invalid safetensors file: tensor ${JSON.stringify(k)} starts at byte ${begin} of the data, expected ${covered} (overlapping or missing data)`);
      covered = end;
    }
    if (covered !== dataBytes) throw new Error(`invalid safetensors file: the tensors cover ${covered} of the ${dataBytes} data bytes`);
    return { tensors, metadata, headerBytes: json.length + 8 };
  } finally {
    await fh.close();
  }
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

const SAFETENSORS_DTYPES: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F8_E4M3: 'float8_e4m3fn',
  F8_E5M2: 'float8_e5m2',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

