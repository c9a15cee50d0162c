/**
 * `animatorch inspect`: says what a checkpoint file or model folder is without
 * loading its weights. .safetensors: only the JSON header is read. torch.save
 * zip archives (.ckpt/.pt/.pth/.bin): the central directory is listed and
 * data.pkl is walked by a pickle opcode scanner that builds inert values
 * (tuples, dicts, strings, numbers, "global" names) and never imports or calls
 * anything. Folders: an animatorch model (model.yaml), a diffusers pipeline
 * (model_index.json) or a diffusers model (config.json, e.g. a MotionAdapter).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { checkModelFiles, validateModelManifest } from '../model-manifest';

export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export type ComponentType =
  | 'sd15-checkpoint'
  | 'unet'
  | 'unet-motion'
  | 'vae'
  | 'text-encoder'
  | 'motion-module'
  | 'motion-lora'
  | 'adapter-lora'
  | 'image-lora'
  | 'unknown';

export interface ComponentInfo {
  type: ComponentType;
  /** One line for people, e.g. "AnimateDiff motion module v2 (21 modules)". */
  description: string;
  /** Key naming: 'ldm' (single-file SD), 'diffusers', 'animatediff' (original repo), 'kohya'. */
  keyLayout?: 'ldm' | 'diffusers' | 'animatediff' | 'kohya';
  /** Motion module version, when this is (or holds) one. */
  motionVersion?: 'v1' | 'v2' | 'v3';
  /** Parts found in a single file (e.g. an LDM checkpoint's unet, vae, text encoder). */
  parts?: string[];
}

export interface WeightsSummary {
  tensors: number;
  /** Sum of the products of the shapes (buffers such as pe tables included). */
  parameters: number;
  /** dtype -> number of tensors. */
  dtypes: Record<string, number>;
  /** A few key names, for orientation. */
  sampleKeys: string[];
  /** Top-level prefixes (up to the first dot) -> tensor count. */
  prefixes: Record<string, number>;
}

export interface InspectResult {
  path: string;
  kind: 'file' | 'folder';
  format: 'safetensors' | 'torch-zip' | 'torch-legacy' | 'animatorch-model' | 'diffusers-pipeline' | 'diffusers-model' | 'unknown';
  bytes?: number;
  components: ComponentInfo[];
  weights?: WeightsSummary;
  /** safetensors __metadata__, model.yaml summary, config.json _class_name, ... */
  metadata?: Record<string, unknown>;
  /** Non-tensor top-level keys of a torch checkpoint (e.g. animatediff_config, global_step). */
  otherKeys?: string[];
  /** Archive entries, when data.pkl could not be scanned. */
  archiveEntries?: string[];
  /** Compatibility notes and how to use the file with animatorch. */
  notes: string[];
  /** Things that look wrong. */
  warnings: string[];
  /** Inspections of sub-components (diffusers folders). */
  children?: InspectResult[];
  /** With `verify` on an animatorch model folder: whether every file matched model.yaml. */
  verified?: boolean;
}

// ------------------------------------------------------------------ safetensors

const MAX_HEADER = 100 * 1024 * 1024;

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
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown };
      if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape)) throw new Error(`not a safetensors file (entry ${JSON.stringify(k)} has no dtype/shape)`);
      tensors[k] = { dtype: SAFETENSORS_DTYPES[t.dtype] ?? t.dtype.toLowerCase(), shape: t.shape.map(Number) };
    }
    return { tensors, metadata, headerBytes: json.length + 8 };
  } finally {
    await fh.close();
  }
}

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

// ------------------------------------------------------------------ zip

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Lists a zip archive's central directory (zip64 aware). */
export async function listZip(file: string): Promise<ZipEntry[]> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const tailLen = Math.min(size, 65_557 + 20 + 56);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    const loc = eocd - 20;
    if (loc >= 0 && tail.readUInt32LE(loc) === 0x07064b50) {
      const z64Offset = Number(tail.readBigUInt64LE(loc + 8));
      const z64 = Buffer.alloc(56);
      await fh.read(z64, 0, 56, z64Offset);
      if (z64.readUInt32LE(0) !== 0x06064b50) throw new Error('corrupt zip64 end of central directory');
      count = Number(z64.readBigUInt64LE(32));
      cdSize = Number(z64.readBigUInt64LE(40));
      cdOffset = Number(z64.readBigUInt64LE(48));
    }
    if (cdOffset + cdSize > size) throw new Error('corrupt zip (central directory outside the file)');
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count && p + 46 <= cd.length; n++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
      const method = cd.readUInt16LE(p + 10);
      let compressedSize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extra field: the 0xFFFFFFFF fields, in order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (usize === 0xffffffff) (usize = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(cd.readBigUInt64LE(q));
        }
        e += 4 + len;
      }
      entries.push({ name, method, compressedSize, size: usize, localHeaderOffset });
      p = extraEnd + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

async function readZipEntry(file: string, entry: ZipEntry, maxBytes = 512 * 1024 * 1024): Promise<Buffer> {
  if (entry.size > maxBytes) throw new Error(`${entry.name} is too large to scan (${entry.size} bytes)`);
  const fh = await open(file, 'r');
  try {
    const lh = Buffer.alloc(30);
    await fh.read(lh, 0, 30, entry.localHeaderOffset);
    if (lh.readUInt32LE(0) !== 0x04034b50) throw new Error('corrupt zip local header');
    const dataStart = entry.localHeaderOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    const data = Buffer.alloc(entry.compressedSize);
    await fh.read(data, 0, data.length, dataStart);
    if (entry.method === 0) return data;
    if (entry.method === 8) return inflateRawSync(data);
    throw new Error(`unsupported zip compression method ${entry.method}`);
  } finally {
    await fh.close();
  }
}

// ------------------------------------------------------------------ pickle scanner

/** An inert stand-in for `module.name` (GLOBAL / STACK_GLOBAL); nothing is imported. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}
/** An inert record of a call (REDUCE / NEWOBJ); nothing is called. */
export class PickleCall {
  state: unknown;
  constructor(readonly fn: unknown, readonly args: unknown[]) {}
}
/** A persistent id (BINPERSID): for torch.save, ('storage', StorageType, key, location, numel). */
export class PicklePersId {
  constructor(readonly id: unknown) {}
}
/** A tensor as described by torch._utils._rebuild_tensor_v2 (no data). */
export class PickleTensor {
  constructor(readonly dtype: string, readonly shape: number[]) {}
}
/** An inert dict (insertion-ordered key/value pairs). */
export class PickleDict {
  readonly entries: Array<[unknown, unknown]> = [];
  set(k: unknown, v: unknown): void {
    this.entries.push([k, v]);
  }
}

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
};

const MARK = Symbol('mark');

/**
 * Walks pickle opcodes and returns the inert value they describe. Supports the
 * opcodes torch.save emits (protocols 2-5); anything else (or malformed input)
 * throws. No module is imported and no function is called: GLOBAL yields a
 * PickleGlobal name, REDUCE a PickleCall record (torch tensor rebuilds become PickleTensor).
 */
export function scanPickle(data: Uint8Array): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const need = (n: number): void => {
    if (p + n > buf.length) throw new Error('truncated pickle');
  };
  const readLine = (): string => {
    const end = buf.indexOf(0x0a, p);
    if (end < 0) throw new Error('truncated pickle');
    const s = buf.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw new Error('pickle stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    for (let i = stack.length - 1; i >= 0; i--)
      if (stack[i] === MARK) {
        const items = stack.slice(i + 1);
        stack.length = i;
        return items;
      }
    throw new Error('pickle MARK not found');
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new Error('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const asDict = (v: unknown): PickleDict => {
    if (v instanceof PickleDict) return v;
    if (v instanceof PickleCall) {
      // OrderedDict() / defaultdict(...) and friends: treat items set on them as a dict
      const d = ((v as PickleCall & { dict?: PickleDict }).dict ??= new PickleDict());
      return d;
    }
    throw new Error('SETITEM(S) on a non-dict');
  };
  const reduce = (fn: unknown, args: unknown[]): unknown => {
    const name = fn instanceof PickleGlobal ? fn.toString() : '';
    if (name === 'collections.OrderedDict' || name === 'builtins.dict' || name === '__builtin__.dict') {
      const d = new PickleDict();
      return d;
    }
    if (name === 'torch._utils._rebuild_tensor_v2' || name === 'torch._utils._rebuild_tensor' || name === 'torch._utils._rebuild_tensor_v3') {
      const storage = args[0];
      const size = args[2];
      let dtype = 'unknown';
      if (storage instanceof PicklePersId && Array.isArray(storage.id) && storage.id[1] instanceof PickleGlobal)
        dtype = STORAGE_DTYPES[storage.id[1].name] ?? storage.id[1].name;
      if (name === 'torch._utils._rebuild_tensor_v3' && args[6] instanceof PickleGlobal) dtype = args[6].name;
      const shape = Array.isArray(size) ? size.map((d) => (typeof d === 'bigint' ? Number(d) : Number(d))) : [];
      return new PickleTensor(dtype, shape);
    }
    if (name === 'torch._utils._rebuild_parameter' || name === 'torch._utils._rebuild_parameter_with_state') {
      if (args[0] instanceof PickleTensor) return args[0];
    }
    return new PickleCall(fn, args);
  };

  for (;;) {
    need(1);
    const op = buf[p++]!;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        p += 1;
        break;
      case 0x95: // FRAME
        need(8);
        p += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(buf[p]);
        p += 1;
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(buf.readUInt16LE(p));
        p += 2;
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(buf.readInt32LE(p));
        p += 4;
        break;
      case 0x8a: {
        // LONG1
        need(1);
        const n = buf[p++]!;
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]!);
        if (n > 0 && buf[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(buf.readDoubleBE(p));
        p += 8;
        break;
      case 0x49: {
        // INT (text)
        const s = readLine();
        stack.push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number(readLine().replace(/L$/, '')));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(readLine()));
        break;
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = buf.readUInt32LE(p);
        p += 4;
        need(n);
        stack.push(buf.toString('utf8', p, p + n));
        p += n;
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const n = buf[p++]!;
        need(n);
        stack.push(buf.toString('utf8', p, p + n));
        p += n;
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const n = Number(buf.readBigUInt64LE(p));
        p += 8;
        need(n);
        stack.push(buf.toString('utf8', p, p + n));
        p += n;
        break;
      }
      case 0x54: // BINSTRING
      case 0x42: {
        // BINBYTES
        need(4);
        const n = buf.readUInt32LE(p);
        p += 4;
        need(n);
        stack.push(op === 0x54 ? buf.toString('latin1', p, p + n) : buf.subarray(p, p + n));
        p += n;
        break;
      }
      case 0x55: // SHORT_BINSTRING
      case 0x43: {
        // SHORT_BINBYTES
        need(1);
        const n = buf[p++]!;
        need(n);
        stack.push(op === 0x55 ? buf.toString('latin1', p, p + n) : buf.subarray(p, p + n));
        p += n;
        break;
      }
      case 0x8e: // BINBYTES8
      case 0x96: {
        // BYTEARRAY8
        need(8);
        const n = Number(buf.readBigUInt64LE(p));
        p += 8;
        need(n);
        stack.push(buf.subarray(p, p + n));
        p += n;
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape line)
        stack.push(readLine());
        break;
      case 0x53: // STRING (quoted line)
        stack.push(readLine().replace(/^(['"])(.*)\1$/, '$2'));
        break;
      case 0x63: {
        // GLOBAL
        const module = readLine();
        const name = readLine();
        stack.push(new PickleGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        stack.push(new PickleGlobal(String(module), String(name)));
        break;
      }
      case 0x71: // BINPUT
        need(1);
        memo.set(buf[p++]!, top());
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(buf.readUInt32LE(p), top());
        p += 4;
        break;
      case 0x70: // PUT
        memo.set(Number(readLine()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        let idx: number;
        if (op === 0x68) (need(1), (idx = buf[p++]!));
        else if (op === 0x6a) (need(4), (idx = buf.readUInt32LE(p)), (p += 4));
        else idx = Number(readLine());
        if (!memo.has(idx)) throw new Error(`pickle memo ${idx} missing`);
        stack.push(memo.get(idx));
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PickleDict();
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (Array.isArray(list)) list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (Array.isArray(list)) list.push(...items);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (Array.isArray(set)) set.push(...items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        asDict(top()).set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = asDict(top());
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, Array.isArray(args) ? args : [args]));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(reduce(cls, Array.isArray(args) ? args : [args]));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(reduce(cls, Array.isArray(args) ? args : [args]));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickleCall) obj.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(new PicklePersId(pop()));
        break;
      case 0x50: // PERSID
        stack.push(new PicklePersId(readLine()));
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new Error(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${p - 1}`);
    }
  }
}

/** Tensors and other keys of a scanned torch checkpoint's top-level dict (unwrapping `state_dict`). */
function collectCheckpoint(root: unknown): { tensors: Record<string, TensorInfo>; otherKeys: string[]; unwrapped?: string } {
  const dictOf = (v: unknown): PickleDict | undefined =>
    v instanceof PickleDict ? v : v instanceof PickleCall ? (v as PickleCall & { dict?: PickleDict }).dict : undefined;
  let d = dictOf(root);
  if (!d) throw new Error('the checkpoint is not a dict at the top level');
  let unwrapped: string | undefined;
  const outerOther: string[] = [];
  for (const key of ['state_dict', 'model', 'module']) {
    const inner = d.entries.find(([k]) => k === key)?.[1];
    const innerDict = dictOf(inner);
    if (innerDict && innerDict.entries.some(([, v]) => v instanceof PickleTensor)) {
      outerOther.push(...d.entries.filter(([k]) => k !== key).map(([k]) => String(k)));
      d = innerDict;
      unwrapped = key;
      break;
    }
  }
  const tensors: Record<string, TensorInfo> = {};
  const otherKeys: string[] = [...outerOther];
  for (const [k, v] of d.entries) {
    if (typeof k !== 'string') continue;
    if (v instanceof PickleTensor) tensors[k] = { dtype: v.dtype, shape: v.shape };
    else otherKeys.push(k);
  }
  return { tensors, otherKeys, unwrapped };
}

// ------------------------------------------------------------------ classification

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export function summarizeWeights(tensors: Record<string, TensorInfo>): WeightsSummary {
  const dtypes: Record<string, number> = {};
  const prefixes: Record<string, number> = {};
  let parameters = 0;
  const keys = Object.keys(tensors);
  for (const k of keys) {
    const t = tensors[k]!;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    parameters += numel(t.shape);
    const prefix = k.split('.')[0]!;
    prefixes[prefix] = (prefixes[prefix] ?? 0) + 1;
  }
  return { tensors: keys.length, parameters, dtypes, sampleKeys: keys.slice(0, 5), prefixes };
}

function motionVersionOf(keys: string[], tensors: Record<string, TensorInfo>): { version?: 'v1' | 'v2' | 'v3'; modules: number; peLength?: number } {
  const modules = new Set<string>();
  for (const k of keys) {
    const m = /^(.*?motion_modules\.\d+)\./.exec(k);
    if (m) modules.add(m[1]!);
  }
  const hasMid = keys.some((k) => /(^|\.)mid_block\.motion_modules\./.test(k));
  const peKey = keys.find((k) => /(pos_encoder|pos_embed)\.pe$/.test(k));
  const peLength = peKey ? tensors[peKey]!.shape[1] : undefined;
  // diffusers' detection (single_file_utils): mid-block module -> v2; else pe length 24 -> v1; else v3.
  const version = hasMid ? 'v2' : peLength === 24 ? 'v1' : peLength !== undefined ? 'v3' : undefined;
  return { version, modules: modules.size, peLength };
}

/** Classifies a state dict by its key names and shapes. */
export function classifyTensors(tensors: Record<string, TensorInfo>, fileName = ''): { components: ComponentInfo[]; notes: string[]; warnings: string[] } {
  const keys = Object.keys(tensors);
  const components: ComponentInfo[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const any = (re: RegExp): boolean => keys.some((k) => re.test(k));
  const count = (re: RegExp): number => keys.filter((k) => re.test(k)).length;
  const shapeOf = (re: RegExp): number[] | undefined => {
    const k = keys.find((key) => re.test(key));
    return k ? tensors[k]!.shape : undefined;
  };
  const loraKey = /(_lora\.(down|up)\.weight|lora_(down|up)\.weight|\.lora\.(down|up)\.weight|lora_[AB]\.weight)$/;

  if (keys.length === 0) {
    warnings.push('no tensors found');
    return { components, notes, warnings };
  }

  // Kohya image LoRA
  if (any(/^lora_(unet|te\d?)_/)) {
    const modules = count(/^lora_(unet|te\d?)_.*\.lora_down\.weight$/);
    const rank = shapeOf(/^lora_(unet|te\d?)_.*\.lora_down\.weight$/)?.[0];
    const te = any(/^lora_te\d?_/);
    const sdxl = any(/^lora_te2_/) || any(/^lora_unet_input_blocks_/) || any(/^lora_unet_output_blocks_/);
    components.push({
      type: 'image-lora',
      keyLayout: 'kohya',
      description: `kohya image LoRA: ${modules} modules${rank ? `, rank ${rank}` : ''}${te ? ', UNet + text encoder' : ', UNet only'}${any(/\.alpha$/) ? ', with .alpha entries' : ''}`,
    });
    notes.push('Use with export: --lora PATH[:alpha] (alpha defaults to 0.8 as in AnimateDiff; the file\'s .alpha entries are ignored, so strength differs from A1111).');
    if (sdxl) warnings.push('This looks like an SDXL LoRA (lora_te2_ / input_blocks keys); animatorch supports SD1.5 only.');
    return { components, notes, warnings };
  }

  const motionKeys = keys.filter((k) => k.includes('motion_modules.'));
  const loraKeys = keys.filter((k) => loraKey.test(k));

  // MotionLoRA: LoRA processors inside motion modules
  if (loraKeys.length > 0 && loraKeys.some((k) => k.includes('motion_modules.'))) {
    const rank = tensors[loraKeys.find((k) => /down\.weight$/.test(k)) ?? loraKeys[0]!]!.shape[0];
    components.push({
      type: 'motion-lora',
      keyLayout: loraKeys.some((k) => k.includes('temporal_transformer')) ? 'animatediff' : 'diffusers',
      description: `AnimateDiff MotionLoRA: ${loraKeys.length / 2} LoRA pairs${rank ? `, rank ${rank}` : ''}`,
    });
    notes.push('MotionLoRA needs a v2 motion module (mm_sd_v15_v2); use with export: --motion-lora PATH[:alpha] (alpha default 1.0; W += alpha·up@down).');
    if (any(/mid_block\.motion_modules\./)) notes.push('It has mid-block entries, so it fits only a v2 motion module (v1/v3 have no mid-block module).');
    return { components, notes, warnings };
  }

  // v3 domain adapter: LoRA on the spatial transformers (attn1/attn2), no motion modules
  if (loraKeys.length > 0 && loraKeys.some((k) => /attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\./.test(k))) {
    const rank = tensors[loraKeys.find((k) => /down\.weight$/.test(k)) ?? loraKeys[0]!]!.shape[0];
    const isAdapterName = /adapter/i.test(fileName);
    components.push({
      type: 'adapter-lora',
      keyLayout: 'diffusers',
      description: `${isAdapterName ? 'AnimateDiff v3 domain adapter' : 'SD UNet LoRA (diffusers attention-processor names, like the AnimateDiff v3 domain adapter)'}: ${loraKeys.length / 2} LoRA pairs${rank ? `, rank ${rank}` : ''}`,
    });
    notes.push('The v3 domain adapter goes with the v3 motion module (v3_sd15_mm); use with export: --adapter-lora PATH[:alpha] (alpha default 1.0).');
    return { components, notes, warnings };
  }

  // Motion module (AnimateDiff naming with temporal_transformer, or diffusers MotionAdapter naming)
  const hasSpatial = any(/(^|\.)conv_in\.weight$/) || any(/^model\.diffusion_model\./);
  if (motionKeys.length > 0 && !hasSpatial) {
    const { version, modules, peLength } = motionVersionOf(motionKeys, tensors);
    const layout = motionKeys.some((k) => k.includes('temporal_transformer')) ? 'animatediff' : 'diffusers';
    components.push({
      type: 'motion-module',
      keyLayout: layout,
      ...(version ? { motionVersion: version } : {}),
      description: `AnimateDiff motion module ${version ?? '(version unknown)'}: ${modules} modules${peLength ? `, pe length ${peLength}` : ''}${layout === 'diffusers' ? ' (diffusers MotionAdapter names)' : ''}`,
    });
    notes.push(`Use with export: --motion-module PATH${version ? '' : ' --motion-version v1|v3 (no pe table to tell them apart)'}.`);
    if (version === 'v1') notes.push('v1: at most 24 frames per window; v1 normalises resnets over all frames jointly, so exact v1 numerics need --numerics animatediff.');
    if (version === 'v2') notes.push('v2: MotionLoRAs (--motion-lora) were trained for this version.');
    if (version === 'v3') notes.push('v3: pair it with the v3 domain adapter (--adapter-lora v3_sd15_adapter.ckpt) as AnimateDiff does.');
    if (modules !== 20 && modules !== 21) warnings.push(`expected 20 (v1/v3) or 21 (v2) motion modules for SD1.5, found ${modules}`);
    const c = shapeOf(/proj_in\.weight$/)?.[0];
    if (c !== undefined && c !== 320 && c !== 640 && c !== 1280) warnings.push(`unexpected motion module width ${c} (SD1.5 uses 320/640/1280)`);
    return { components, notes, warnings };
  }

  // LDM single-file Stable Diffusion checkpoint
  if (any(/^model\.diffusion_model\./) || any(/^first_stage_model\./) || any(/^cond_stage_model\./) || any(/^conditioner\.embedders\./)) {
    const parts: string[] = [];
    if (any(/^model\.diffusion_model\./)) parts.push('unet');
    if (any(/^first_stage_model\./)) parts.push('vae');
    if (any(/^cond_stage_model\./) || any(/^conditioner\./)) parts.push('text_encoder');
    const ctx = shapeOf(/^model\.diffusion_model\.input_blocks\.1\.1\.transformer_blocks\.0\.attn2\.to_k\.weight$/)?.[1];
    const sdxl = any(/^conditioner\.embedders\.1\./) || any(/^model\.diffusion_model\.label_emb\./);
    const family = sdxl ? 'SDXL' : ctx === 1024 ? 'SD2.x' : ctx === 768 ? 'SD1.x' : 'Stable Diffusion (family unknown)';
    const mm = any(/^model\.diffusion_model\..*motion_modules\./);
    components.push({
      type: 'sd15-checkpoint',
      keyLayout: 'ldm',
      parts,
      description: `${family} single-file (LDM) checkpoint: ${parts.join(' + ')}${mm ? ' (with motion modules)' : ''}`,
    });
    if (family === 'SD1.x') notes.push('Use as the base model: export --base PATH (a DreamBooth/fine-tuned SD1.5 file works the same).');
    else warnings.push(`${family} is not supported: AnimateDiff motion modules here are for SD1.5 (cross-attention width 768).`);
    if (!parts.includes('vae')) notes.push('No VAE inside: the export needs one from elsewhere (a diffusers folder as --base).');
    if (!parts.includes('text_encoder')) notes.push('No text encoder inside.');
    if (any(/^model_ema\./)) notes.push('Has EMA weights (model_ema.*); the non-EMA UNet is what loaders use.');
    return { components, notes, warnings };
  }

  // diffusers component state dicts
  if (any(/^text_model\.encoder\.layers\./)) {
    const layers = count(/^text_model\.encoder\.layers\.\d+\.self_attn\.q_proj\.weight$/);
    const width = shapeOf(/^text_model\.embeddings\.token_embedding\.weight$/)?.[1];
    components.push({ type: 'text-encoder', keyLayout: 'diffusers', description: `CLIP text encoder: ${layers} layers, width ${width ?? '?'}${width === 768 && layers === 12 ? ' (SD1.5 CLIP ViT-L/14)' : ''}` });
    if (width !== undefined && width !== 768) warnings.push(`text width ${width}: SD1.5 uses 768`);
    return { components, notes, warnings };
  }
  if (any(/^(encoder|decoder)\.conv_in\.weight$/) || any(/^(encoder|decoder)\.down\.\d+\./) || any(/^post_quant_conv\./)) {
    const ldm = any(/^(encoder|decoder)\.(down|up)\.\d+\./);
    const z = shapeOf(/^post_quant_conv\.weight$/)?.[0];
    components.push({ type: 'vae', keyLayout: ldm ? 'ldm' : 'diffusers', description: `VAE (AutoencoderKL${z ? `, ${z} latent channels` : ''}${ldm ? ', LDM names' : ''})` });
    return { components, notes, warnings };
  }
  if (any(/^conv_in\.weight$/) && any(/^down_blocks\./)) {
    const ctx = shapeOf(/^down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight$/)?.[1];
    const inC = shapeOf(/^conv_in\.weight$/)?.[1];
    if (motionKeys.length > 0) {
      const { version, modules } = motionVersionOf(motionKeys, tensors);
      components.push({
        type: 'unet-motion',
        keyLayout: 'diffusers',
        ...(version ? { motionVersion: version } : {}),
        description: `UNetMotionModel (SD1.5 UNet + motion modules ${version ?? ''}, ${modules} modules)`,
      });
    } else
      components.push({
        type: 'unet',
        keyLayout: 'diffusers',
        description: `UNet2DConditionModel (${ctx === 768 ? 'SD1.x' : ctx === 1024 ? 'SD2.x' : `cross-attention ${ctx ?? '?'}`}, ${inC ?? '?'} input channels)`,
      });
    if (ctx !== undefined && ctx !== 768) warnings.push(`cross-attention width ${ctx}: animatorch supports SD1.5 (768)`);
    if (inC !== undefined && inC !== 4) warnings.push(`${inC} input channels: an inpainting/other UNet, not text-to-image SD1.5`);
    return { components, notes, warnings };
  }
  if (loraKeys.length > 0) {
    components.push({ type: 'image-lora', keyLayout: 'diffusers', description: `LoRA (${loraKeys.length / 2} pairs, diffusers/PEFT names)` });
    notes.push('animatorch\'s exporter reads kohya LoRAs (--lora), MotionLoRAs (--motion-lora) and the v3 adapter (--adapter-lora).');
    return { components, notes, warnings };
  }
  components.push({ type: 'unknown', description: 'not recognised (no SD1.5, AnimateDiff or LoRA key layout matched)' });
  return { components, notes, warnings };
}

// ------------------------------------------------------------------ files and folders

async function inspectFile(file: string): Promise<InspectResult> {
  const st = await stat(file);
  const base: InspectResult = { path: file, kind: 'file', format: 'unknown', bytes: st.size, components: [], notes: [], warnings: [] };
  const fd = await open(file, 'r');
  const magic = Buffer.alloc(8);
  await fd.read(magic, 0, 8, 0);
  await fd.close();
  const ext = path.extname(file).toLowerCase();

  const isZip = magic.readUInt32LE(0) === 0x04034b50;
  if (ext === '.safetensors' || (!isZip && magic[0] !== 0x80 && st.size >= 8 && magic.readBigUInt64LE(0) < BigInt(Math.min(st.size, MAX_HEADER)))) {
    try {
      const { tensors, metadata } = await readSafetensorsHeader(file);
      const c = classifyTensors(tensors, path.basename(file));
      return {
        ...base,
        format: 'safetensors',
        components: c.components,
        weights: summarizeWeights(tensors),
        ...(metadata && Object.keys(metadata).length ? { metadata } : {}),
        notes: c.notes,
        warnings: c.warnings,
      };
    } catch (err) {
      if (ext === '.safetensors') return { ...base, warnings: [`cannot read the safetensors header: ${(err as Error).message}`] };
    }
  }
  if (isZip) {
    const entries = await listZip(file);
    const pkl = entries.find((e) => /(^|\/)data\.pkl$/.test(e.name));
    const names = entries.map((e) => e.name);
    if (!pkl) return { ...base, format: 'unknown', archiveEntries: names.slice(0, 50), warnings: ['a zip archive without data.pkl: not a torch.save checkpoint'] };
    try {
      const root = scanPickle(await readZipEntry(file, pkl));
      const { tensors, otherKeys, unwrapped } = collectCheckpoint(root);
      const c = classifyTensors(tensors, path.basename(file));
      const notes = [...c.notes];
      if (unwrapped) notes.unshift(`Weights are under the top-level '${unwrapped}' key (unwrapped).`);
      return {
        ...base,
        format: 'torch-zip',
        components: c.components,
        weights: summarizeWeights(tensors),
        ...(otherKeys.length ? { otherKeys } : {}),
        notes,
        warnings: c.warnings,
      };
    } catch (err) {
      return {
        ...base,
        format: 'torch-zip',
        archiveEntries: names.length > 50 ? [...names.slice(0, 50), `... ${names.length - 50} more`] : names,
        warnings: [`data.pkl could not be scanned without executing it (${(err as Error).message}); listing the archive entries instead.`],
      };
    }
  }
  if (magic[0] === 0x80 && ['.ckpt', '.pt', '.pth', '.bin'].includes(ext))
    return {
      ...base,
      format: 'torch-legacy',
      warnings: ['a legacy (pre-zip, torch<1.6) torch.save file: its layout cannot be read without unpickling. Re-save it with a current torch, or convert it to .safetensors.'],
    };
  return { ...base, warnings: ['not a .safetensors file or a torch.save zip archive'] };
}

const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'model.fp16.safetensors', 'diffusion_pytorch_model.bin', 'pytorch_model.bin'];

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function inspectDiffusersModel(dir: string, config: Record<string, unknown>): Promise<InspectResult> {
  const className = String(config._class_name ?? 'unknown');
  const result: InspectResult = { path: dir, kind: 'folder', format: 'diffusers-model', components: [], metadata: { _class_name: className }, notes: [], warnings: [] };
  for (const k of ['sample_size', 'cross_attention_dim', 'in_channels', 'latent_channels', 'hidden_size', 'num_hidden_layers', 'motion_max_seq_length', 'use_motion_mid_block', 'motion_layers_per_block'])
    if (config[k] !== undefined) result.metadata![k] = config[k];
  const weights = (await Promise.all(WEIGHT_FILES.map(async (f) => ((await exists(path.join(dir, f))) ? f : undefined)))).filter((f): f is string => !!f);
  if (weights.length === 0) {
    const shards = (await readdir(dir)).filter((f) => /\.index\.json$/.test(f));
    result.warnings.push(shards.length ? `sharded weights (${shards[0]}): only the index was checked` : 'no weight file found');
  } else {
    const w = await inspectFile(path.join(dir, weights[0]!));
    result.weights = w.weights;
    result.components = w.components;
    result.notes.push(...w.notes);
    result.warnings.push(...w.warnings);
    result.bytes = w.bytes;
  }
  if (className === 'MotionAdapter') {
    const mid = config.use_motion_mid_block === true;
    const maxLen = config.motion_max_seq_length;
    const version = mid ? 'v2' : maxLen === 24 ? 'v1' : result.components[0]?.motionVersion ?? 'v3';
    result.components = [{ type: 'motion-module', keyLayout: 'diffusers', motionVersion: version as 'v1' | 'v2' | 'v3', description: `diffusers MotionAdapter (AnimateDiff motion module ${version})` }];
    result.notes.unshift('Use with export: --motion-module FOLDER (a diffusers MotionAdapter folder).');
  }
  return result;
}

async function inspectFolder(dir: string, options: InspectOptions): Promise<InspectResult> {
  const yamlPath = path.join(dir, 'model.yaml');
  if (await exists(yamlPath)) {
    const result: InspectResult = { path: dir, kind: 'folder', format: 'animatorch-model', components: [], notes: [], warnings: [] };
    const raw = parseYaml(await readFile(yamlPath, 'utf8'), { intAsBigInt: false });
    const m = validateModelManifest(raw, yamlPath);
    result.metadata = {
      name: m.name,
      family: m.family,
      numerics: m.numerics,
      dtype: m.dtype,
      motionModuleVersion: m.motionModule.version,
      ...(m.motionModule.maxFrames ? { maxFrames: m.motionModule.maxFrames } : {}),
      sampleSize: m.sampleSize,
      scheduler: m.scheduler._class_name,
      textEncoder: m.textEncoder ? 'yes' : 'no (pass prompt embeddings)',
      exportVersion: m.exportVersion,
      files: m.files,
    };
    const version = ['v1', 'v2', 'v3'].includes(m.motionModule.version) ? (m.motionModule.version as 'v1' | 'v2' | 'v3') : undefined;
    result.components.push({
      type: 'unet-motion',
      ...(version ? { motionVersion: version } : {}),
      description: `animatorch model '${m.name}' (AnimateDiff ${m.motionModule.version}, ${m.dtype}, ${m.numerics} numerics, TorchScript)`,
      parts: ['unet', 'vae', ...(m.textEncoder ? ['text_encoder'] : [])],
    });
    let total = 0;
    for (const rel of Object.keys(m.files)) total += (await stat(path.join(dir, rel)).catch(() => undefined))?.size ?? 0;
    result.bytes = total;
    const problems = await checkModelFiles(m, { sha256: options.verify === true });
    result.warnings.push(...problems);
    if (options.verify) {
      result.verified = problems.length === 0;
      if (result.verified) result.notes.push(`Verified: all ${Object.keys(m.files).length} files match model.yaml's sha256.`);
    }
    result.notes.push('Render with: animatorch render --model FOLDER --prompt "..."');
    return result;
  }
  const indexPath = path.join(dir, 'model_index.json');
  if (await exists(indexPath)) {
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as Record<string, unknown>;
    const className = String(index._class_name ?? 'unknown');
    const result: InspectResult = {
      path: dir,
      kind: 'folder',
      format: 'diffusers-pipeline',
      components: [],
      metadata: { _class_name: className, _diffusers_version: index._diffusers_version },
      notes: [],
      warnings: [],
      children: [],
    };
    for (const [name, spec] of Object.entries(index)) {
      if (name.startsWith('_') || !Array.isArray(spec) || spec[0] === null) continue;
      const sub = path.join(dir, name);
      const cfgFile = (await exists(path.join(sub, 'config.json'))) ? path.join(sub, 'config.json') : (await exists(path.join(sub, 'scheduler_config.json'))) ? path.join(sub, 'scheduler_config.json') : undefined;
      if (!cfgFile) {
        if (name !== 'tokenizer' && name !== 'feature_extractor' && name !== 'safety_checker') result.warnings.push(`${name}/: no config.json`);
        continue;
      }
      const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
      if (name === 'scheduler') {
        result.metadata!.scheduler = cfg._class_name;
        continue;
      }
      if (name === 'safety_checker' || name === 'feature_extractor' || name === 'image_encoder') continue;
      const child = await inspectDiffusersModel(sub, { _class_name: spec[1], ...cfg });
      result.children!.push(child);
      result.components.push(...child.components.map((c) => ({ ...c, description: `${name}: ${c.description}` })));
    }
    const hasMotion = result.components.some((c) => c.type === 'motion-module' || c.type === 'unet-motion');
    result.notes.push(
      hasMotion
        ? 'An AnimateDiff diffusers pipeline: export with --base FOLDER (the motion adapter inside is used).'
        : 'A diffusers Stable Diffusion pipeline: export with --base FOLDER --motion-module MM.',
    );
    return result;
  }
  const configPath = path.join(dir, 'config.json');
  if (await exists(configPath)) {
    const cfg = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    if (typeof cfg._class_name === 'string' || typeof cfg.architectures !== 'undefined')
      return inspectDiffusersModel(dir, { _class_name: cfg._class_name ?? (cfg.architectures as string[])?.[0], ...cfg });
  }
  const files = (await readdir(dir)).filter((f) => /\.(safetensors|ckpt|pt|pth|bin)$/i.test(f));
  return {
    path: dir,
    kind: 'folder',
    format: 'unknown',
    components: [],
    notes: files.length ? [`Checkpoint files here: ${files.slice(0, 10).join(', ')}; inspect them one by one.`] : [],
    warnings: ['not an animatorch model (model.yaml), a diffusers pipeline (model_index.json) or a diffusers model (config.json)'],
  };
}

export interface InspectOptions {
  /** For an animatorch model folder: hash every file against model.yaml's sha256 (sizes are always compared). */
  verify?: boolean;
}

/** What a checkpoint file or model folder is, without loading its weights. */
export async function inspectPath(fileOrDir: string, options: InspectOptions = {}): Promise<InspectResult> {
  const abs = path.resolve(fileOrDir);
  const st = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${fileOrDir}: ${err.code === 'ENOENT' ? 'no such file or folder' : err.message}`);
  });
  return st.isDirectory() ? inspectFolder(abs, options) : inspectFile(abs);
}

const human = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
const bytesText = (n: number): string => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} B`);

/** The inspection as text for the terminal. */
export function formatInspectResult(r: InspectResult, indent = ''): string {
  const lines: string[] = [];
  lines.push(`${indent}${r.path}`);
  lines.push(`${indent}  format: ${r.format}${r.bytes !== undefined ? ` (${bytesText(r.bytes)})` : ''}`);
  for (const c of r.components) lines.push(`${indent}  is: ${c.description}${c.keyLayout ? ` [${c.keyLayout} keys]` : ''}`);
  if (r.weights) {
    const w = r.weights;
    lines.push(`${indent}  tensors: ${w.tensors}, parameters: ${human(w.parameters)} (${w.parameters})`);
    lines.push(`${indent}  dtypes: ${Object.entries(w.dtypes).map(([d, n]) => `${d} x${n}`).join(', ')}`);
    lines.push(`${indent}  key prefixes: ${Object.entries(w.prefixes).slice(0, 8).map(([p, n]) => `${p} (${n})`).join(', ')}`);
  }
  if (r.metadata)
    for (const [k, v] of Object.entries(r.metadata)) {
      if (k === 'files' && v && typeof v === 'object') {
        lines.push(`${indent}  files:`);
        for (const [f, info] of Object.entries(v as Record<string, { sha256: string; bytes: number }>))
          lines.push(`${indent}    ${f}  ${bytesText(info.bytes)}  sha256 ${info.sha256.slice(0, 16)}…`);
      } else lines.push(`${indent}  ${k}: ${typeof v === 'string' ? (v.length > 120 ? `${v.slice(0, 120)}…` : v) : JSON.stringify(v)}`);
    }
  if (r.otherKeys?.length) lines.push(`${indent}  other keys: ${r.otherKeys.slice(0, 10).join(', ')}`);
  if (r.archiveEntries?.length) lines.push(`${indent}  archive entries: ${r.archiveEntries.slice(0, 12).join(', ')}`);
  for (const n of r.notes) lines.push(`${indent}  note: ${n}`);
  for (const w of r.warnings) lines.push(`${indent}  warning: ${w}`);
  for (const c of r.children ?? []) lines.push(formatInspectResult(c, `${indent}  `));
  return lines.join('\n');
}
