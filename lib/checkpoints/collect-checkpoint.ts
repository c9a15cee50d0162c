import { PickleCall, PickleDict, PickleTensor } from './pickle-values';
import type { TensorInfo } from './types';

/** Tensors and other keys of a scanned torch checkpoint's top-level dict (unwrapping `state_dict`). */
export function collectCheckpoint(root: unknown): { tensors: Record<string, TensorInfo>; otherKeys: string[]; unwrapped?: string } {
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
