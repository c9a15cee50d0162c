import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { blasLibrary, findBlasLibrary, openmpBlasCommands } from '../lib/blas-library';

const line = (file: string) => `7f3a1c000000-7f3a1c200000 r-xp 00000000 08:01 1234 ${file}`;
const debian = (build: string) => [
  line('/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0'),
  line(`/usr/lib/x86_64-linux-gnu/${build}/libblas.so.3`),
  line(`/usr/lib/x86_64-linux-gnu/${build}/libopenblasp-r0.3.21.so`),
  '7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]',
].join('\n');

describe('blasLibrary', () => {
  it("names Debian's OpenBLAS build from its folder, the library itself before the libblas.so.3 wrapper", () => {
    expect(findBlasLibrary(debian('openblas-pthread'))).toEqual({ path: '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so', threading: 'pthread' });
    expect(findBlasLibrary(debian('openblas-openmp'))?.threading).toBe('openmp');
    expect(findBlasLibrary(debian('openblas-serial'))?.threading).toBe('serial');
    expect(findBlasLibrary(line('/opt/OpenBLAS/lib/libopenblas.so.0'))).toEqual({ path: '/opt/OpenBLAS/lib/libopenblas.so.0', threading: 'unknown' });
    expect(findBlasLibrary(line('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'))?.path).toBe('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3');
    // PyPI's torch links MKL into libtorch_cpu: no BLAS of its own in the map
    expect(findBlasLibrary([line('/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so'), line('/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0')].join('\n'))).toBeNull();
  });

  it("reads this process's map, after loading the addon", () => {
    const found = blasLibrary();
    expect(found).toEqual(findBlasLibrary(readFileSync('/proc/self/maps', 'utf8')));
    if (found) expect(existsSync(found.path)).toBe(true);
  });

  it("says how to switch Debian's three alternatives to the OpenMP build, for the multiarch folder found", () => {
    expect(openmpBlasCommands({ path: '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so', threading: 'pthread' })).toBe(
      'sudo apt-get install libopenblas0-openmp && for l in libblas.so.3 liblapack.so.3 libopenblas.so.0; do ' +
        'sudo update-alternatives --set $l-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/$l; done',
    );
    expect(openmpBlasCommands({ path: '/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so', threading: 'pthread' })).toContain(
      '--set $l-aarch64-linux-gnu /usr/lib/aarch64-linux-gnu/openblas-openmp/$l',
    );
  });
});
