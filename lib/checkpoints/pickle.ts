/**
 * A pickle opcode scanner for torch.save's data.pkl: it builds inert values
 * (tuples, dicts, strings, numbers, "global" names) and never imports or calls
 * anything.
 */
import { PickleCall, PickleDict, PickleGlobal, PicklePersId, PickleTensor } from './pickle-values';

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
export function scanPickle(data: Uint8Array, onGlobal?: (g: PickleGlobal) => void): unknown {
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
        const g = new PickleGlobal(module, name);
        onGlobal?.(g);
        stack.push(g);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        const g = new PickleGlobal(String(module), String(name));
        onGlobal?.(g);
        stack.push(g);
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
