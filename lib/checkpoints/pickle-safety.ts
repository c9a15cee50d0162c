/**
 * Which names a torch.save pickle may use and still be loaded by the exporter's
 * torch.load(weights_only=True): tensor rebuilds, storages, dtypes, OrderedDict and a few
 * builtins. Any other global (posix.system, builtins.eval, a training framework's class) is
 * something torch.load would import and call; inspect reports it as unsafe, naming it.
 */
import type { PickleGlobal } from './pickle-values';

const SAFE = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._utils._rebuild_qtensor',
  'torch._utils._rebuild_sparse_tensor',
  'torch._utils._rebuild_device_tensor_from_numpy',
  'torch._tensor._rebuild_from_type_v2',
  'torch.serialization._get_layout',
  'torch.storage.UntypedStorage',
  'torch.storage.TypedStorage',
  'torch.device',
  'torch.Size',
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'builtins.set',
  'builtins.frozenset',
  'builtins.bytearray',
]);
const DTYPES = /^torch\.(float(16|32|64)|bfloat16|half|double|int(8|16|32|64)|uint8|bool|complex(64|128)|q(u)?int(8|32)|float8_\w+)$/;
const STORAGES = /^torch\.(cuda\.)?\w*Storage$/;

/** Whether torch.load(weights_only=True) accepts this global. */
export function isSafeGlobal(g: PickleGlobal): boolean {
  const name = `${g.module}.${g.name}`;
  return SAFE.has(name) || DTYPES.test(name) || STORAGES.test(name);
}
