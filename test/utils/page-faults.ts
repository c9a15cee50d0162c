import { zeros } from '../../lib/tensor-factories';

/** Minor page faults while a float32 tensor of `mib` MiB is made zero-filled (every page touched) and freed. */
export function pageFaults(mib: number): number {
  const start = process.resourceUsage().minorPageFault;
  zeros([mib * 2 ** 18]).dispose();
  return process.resourceUsage().minorPageFault - start;
}
