/** The inert values the pickle scanner (pickle.ts) builds: names, call records, tensors; nothing is imported or called. */
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
