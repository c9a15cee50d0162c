import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cuda, getBlasNumThreads, getNumThreads, setNumThreads, versions } from '../lib';
import { explainLoadFailure } from '../lib/native/binding';

describe('addon loading and environment', () => {
  it('reports libtorch version and where the build found it', () => {
    const v = versions();
    expect(v.libtorch).toMatch(/^\d+\.\d+\.\d+/);
    expect(v.libtorchSource).toMatch(/LIBTORCH=|Python torch|system libtorch/);
    // A CUDA build links libtorch's CUDA libraries: they are mapped into this process once the addon is loaded.
    const maps = readFileSync('/proc/self/maps', 'utf8');
    expect(v.cudaBuild).toBe(/libc10_cuda\.so|libtorch_cuda\.so/.test(maps));
    expect(maps).toMatch(/libtorch_cpu\.so|libtorch\.so/);
  });

  it('answers CUDA queries: a GPU exactly when the build has CUDA and the machine a device node', () => {
    expect(cuda.isAvailable()).toBe(versions().cudaBuild && existsSync('/dev/nvidia0'));
    expect(cuda.deviceCount() > 0).toBe(cuda.isAvailable());
  });

  it('sets the intra-op thread count', () => {
    const before = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(before);
    expect(getNumThreads()).toBe(before);
    expect(() => setNumThreads(0)).toThrow(/n: expected an integer >= 1/);
  });

  it("sets OpenBLAS's own thread count with torch's, unless OPENBLAS_NUM_THREADS is set", () => {
    const blas = getBlasNumThreads();
    // Debian's libtorch links OpenBLAS; PyPI's torch uses MKL (no OpenBLAS in the process: null)
    if (versions().libtorchSource.startsWith('system libtorch')) expect(blas).toBeGreaterThanOrEqual(1);
    if (blas === null) return;
    const before = getNumThreads();
    const env = process.env.OPENBLAS_NUM_THREADS;
    try {
      delete process.env.OPENBLAS_NUM_THREADS;
      setNumThreads(1);
      expect(getBlasNumThreads()).toBe(1);
      setNumThreads(2);
      expect(getBlasNumThreads()).toBe(2);
      process.env.OPENBLAS_NUM_THREADS = '1';
      setNumThreads(1);
      setNumThreads(2);
      expect(getBlasNumThreads()).toBe(2); // kept: the environment names OpenBLAS's count
    } finally {
      if (env === undefined) delete process.env.OPENBLAS_NUM_THREADS;
      else process.env.OPENBLAS_NUM_THREADS = env;
      setNumThreads(before);
    }
  });

  it('explains load failures with causes and fixes', () => {
    const missing = explainLoadFailure(new Error('libtorch_cpu.so: cannot open shared object file: No such file or directory'));
    expect(missing).toMatch(/libtorch library the addon was built against cannot be found/);
    expect(missing).toMatch(/Possible solutions:/);
    expect(missing).toMatch(/LIBTORCH=\/path\/to\/libtorch npm rebuild animatorch/);
    const abi = explainLoadFailure(new Error("/x/animatorch.node: undefined symbol: _ZN3c104cuda9SetDeviceEi"));
    expect(abi).toMatch(/C\+\+ ABI or version/);
    const cudaLib = explainLoadFailure(new Error('libcudart.so.12: cannot open shared object file'));
    expect(cudaLib).toMatch(/CUDA libtorch/);
    const none = explainLoadFailure(new Error('No native build was found for platform=linux arch=x64'));
    expect(none).toMatch(/has not been built/);
    expect(none).toMatch(/apt-get install libtorch-dev/);
  });
});
