/**
 * FreeInit (Wu et al. 2023), as diffusers' FreeInitMixin: the video is denoised `iterations` times; before
 * each later iteration the previous result is diffused back to t = num_train_timesteps − 1 with the
 * initial noise, and its low spatio-temporal frequencies are kept while the high ones come from fresh
 * noise (the call's generator). The 3D FFT over (frames, height, width) is done as separable DFT matrix
 * products in float64 (libtorch's FFT is not in the binding); the filter is diffusers' float32 mask.
 */
import { InvalidParameterError } from '../errors';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { type Device, Tensor, tidy } from '../tensor';
import { tensor, zeros } from '../tensor-factories';
import { assertInteger, assertNumber, assertOneOf, isPlainObject } from '../validate';
import { assertKnownKeys } from '../suggest';

export const FREE_INIT_METHODS = ['butterworth', 'gaussian', 'ideal'] as const;
export type FreeInitMethod = (typeof FREE_INIT_METHODS)[number];

export interface FreeInitOptions {
  /** Noise re-initialisation iterations (each a full denoising run). Default 3. */
  iterations?: number;
  /** The low-pass filter. Default 'butterworth'. */
  method?: FreeInitMethod;
  /** Butterworth order. Default 4. */
  order?: number;
  /** Normalised stop frequency over height and width, 0..1 (d_s). Default 0.25. */
  spatialStopFrequency?: number;
  /** Normalised stop frequency over frames, 0..1 (d_t). Default 0.25. */
  temporalStopFrequency?: number;
  /** Coarse-to-fine: iteration i runs ⌊steps / iterations · (i + 1)⌋ steps (at least 1). Default false. */
  fastSampling?: boolean;
}

export type ResolvedFreeInit = Required<FreeInitOptions>;

/** freeInit: true (diffusers' defaults) or options; checked, with defaults resolved. */
export function resolveFreeInit(v: unknown): ResolvedFreeInit | undefined {
  if (v === undefined || v === false) return undefined;
  if (v !== true && !isPlainObject(v)) throw new InvalidParameterError('freeInit', 'true or { iterations, method, order, spatialStopFrequency, temporalStopFrequency, fastSampling }', v);
  const o = (v === true ? {} : v) as FreeInitOptions;
  assertKnownKeys('freeInit', o, ['iterations', 'method', 'order', 'spatialStopFrequency', 'temporalStopFrequency', 'fastSampling']);
  const r: ResolvedFreeInit = {
    iterations: o.iterations ?? 3,
    method: o.method ?? 'butterworth',
    order: o.order ?? 4,
    spatialStopFrequency: o.spatialStopFrequency ?? 0.25,
    temporalStopFrequency: o.temporalStopFrequency ?? 0.25,
    fastSampling: o.fastSampling ?? false,
  };
  assertInteger('freeInit.iterations', r.iterations, 1);
  assertOneOf('freeInit.method', r.method, FREE_INIT_METHODS);
  assertNumber('freeInit.order', r.order, 0);
  assertNumber('freeInit.spatialStopFrequency', r.spatialStopFrequency, 0, 1);
  assertNumber('freeInit.temporalStopFrequency', r.temporalStopFrequency, 0, 1);
  if (typeof r.fastSampling !== 'boolean') throw new InvalidParameterError('freeInit.fastSampling', 'a boolean', r.fastSampling);
  return r;
}

/** Steps of iteration `i` (diffusers' _apply_free_init with use_fast_sampling). */
export function freeInitSteps(steps: number, f: ResolvedFreeInit, i: number): number {
  return f.fastSampling ? Math.max(1, Math.floor((steps / f.iterations) * (i + 1))) : steps;
}

/** _get_free_init_freq_filter: the low-pass mask [F, h, w] (float32 values), centred as after fftshift. */
export function freeInitFilter(frames: number, height: number, width: number, f: ResolvedFreeInit): Float32Array {
  const mask = new Float32Array(frames * height * width);
  const ds = f.spatialStopFrequency;
  const dt = f.temporalStopFrequency;
  if (ds === 0 || dt === 0) return mask;
  const filter =
    f.method === 'butterworth'
      ? (x: number) => 1 / (1 + (x / ds ** 2) ** f.order)
      : f.method === 'gaussian'
        ? (x: number) => Math.exp((-1 / (2 * ds ** 2)) * x)
        : (x: number) => (x <= ds * 2 ? 1 : 0);
  let i = 0;
  for (let t = 0; t < frames; t++)
    for (let h = 0; h < height; h++)
      for (let w = 0; w < width; w++) {
        const d2 = ((ds / dt) * ((2 * t) / frames - 1)) ** 2 + ((2 * h) / height - 1) ** 2 + ((2 * w) / width - 1) ** 2;
        mask[i++] = filter(d2);
      }
  return mask;
}

/**
 * _apply_freq_filter: Re(ifftn(ifftshift(L · fftshift(fftn(x)) + (1 − L) · fftshift(fftn(noise))))) over the
 * last three dims of [B, C, F, h, w]. The shifts are folded into the mask (ifftshift(L)). float32 result.
 */
export function applyFrequencyFilter(x: Tensor, noise: Tensor, mask: Float32Array, device: Device): Tensor {
  const [f, h, w] = x.shape.slice(-3) as [number, number, number];
  const low = new Float64Array(mask.length);
  const high = new Float64Array(mask.length);
  const sf = Math.floor(f / 2), sh = Math.floor(h / 2), sw = Math.floor(w / 2);
  let i = 0;
  for (let t = 0; t < f; t++)
    for (let y = 0; y < h; y++)
      for (let z = 0; z < w; z++, i++) {
        const m = mask[(((t + sf) % f) * h + ((y + sh) % h)) * w + ((z + sw) % w)]!;
        low[i] = m;
        high[i] = Math.fround(1 - m); // high_pass_filter = 1 - low_pass_filter, in float32
      }
  return tidy(() => {
    const lowT = tensor(low, [f, h, w], { device });
    const highT = tensor(high, [f, h, w], { device });
    const [xr, xi] = dft3(x.astype('float64'), zeros(x.shape, { dtype: 'float64', device }), false, device);
    const [nr, ni] = dft3(noise.astype('float64'), zeros(noise.shape, { dtype: 'float64', device }), false, device);
    const mr = xr.mul(lowT).add(nr.mul(highT));
    const mi = xi.mul(lowT).add(ni.mul(highT));
    const [re] = dft3(mr, mi, true, device);
    return re.astype('float32');
  });
}

/**
 * _apply_free_init for iteration > 0: the previous result `latents` diffused to t = num_train_timesteps − 1
 * with the initial noise, low frequencies kept, high ones from `zRand`. New tensor; inputs not consumed.
 */
export function reinitializeNoise(latents: Tensor, initialNoise: Tensor, zRand: Tensor, scheduler: Scheduler, f: ResolvedFreeInit, device: Device): Tensor {
  const [fr, h, w] = latents.shape.slice(-3) as [number, number, number];
  const zt = tidy(() => scheduler.addNoise(latents, initialNoise, Number(scheduler.config.num_train_timesteps) - 1).astype('float32'));
  try {
    return applyFrequencyFilter(zt, zRand, freeInitFilter(fr, h, w, f), device);
  } finally {
    zt.dispose();
  }
}

/** The 3D (inverse) DFT over the last three dims of a complex tensor (re, im), one axis at a time. */
function dft3(re: Tensor, im: Tensor, inverse: boolean, device: Device): [Tensor, Tensor] {
  const nd = re.ndim;
  for (const dim of [nd - 3, nd - 2, nd - 1]) {
    const n = re.shape[dim]!;
    const cos = new Float64Array(n * n);
    const sin = new Float64Array(n * n);
    const scale = inverse ? 1 / n : 1;
    for (let k = 0; k < n; k++)
      for (let j = 0; j < n; j++) {
        // Reduce k·j mod n first so the angle stays small and exact.
        const a = (2 * Math.PI * ((k * j) % n)) / n;
        cos[k * n + j] = Math.cos(a) * scale;
        sin[k * n + j] = (inverse ? Math.sin(a) : -Math.sin(a)) * scale;
      }
    const c = tensor(cos, [n, n], { device });
    const s = tensor(sin, [n, n], { device });
    // The DFT matrix is symmetric: along `dim`, y = x @ M over that axis moved last.
    const r = re.transpose(dim, nd - 1);
    const m = im.transpose(dim, nd - 1);
    re = r.matmul(c).sub(m.matmul(s)).transpose(dim, nd - 1);
    im = r.matmul(s).add(m.matmul(c)).transpose(dim, nd - 1);
  }
  return [re, im];
}
