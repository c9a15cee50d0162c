/**
 * Stable Video Diffusion's image preprocessing, as diffusers' StableVideoDiffusionPipeline:
 * - for the CLIP image encoder (_encode_image): x/255, 2x−1, _resize_with_antialiasing to 224×224
 *   (a Gaussian blur with reflect padding, then bicubic with align_corners=True), (x+1)/2, and
 *   CLIPImageProcessor's (x − mean)/std;
 * - for the VAE (VideoProcessor.preprocess at the image's own size): 2x − 1.
 * Both resampling steps are linear along each axis, so they run as matrix products with weight
 * matrices built here (the same taps and float32 weights torch uses).
 */
import { type Device, Tensor, tidy } from '../tensor';
import { tensor } from '../tensor-factories';
import { type ImageInput, imageShape } from './image-input';
import { pixelsToFloat } from './pixels';

export { type ImageInput, imageShape } from './image-input';

/** The image as [1, 3, H, W] float32 in [0, 1] on `device` (pil_to_numpy + numpy_to_pt). */
export async function imageToTensor(image: ImageInput, device: Device): Promise<Tensor> {
  imageShape(image);
  return pixelsToFloat(image, device, (x) => x.permute([2, 0, 1]).unsqueeze(0).contiguous());
}

const f32 = Math.fround;

/** _gaussian: a normalised kernel of `size` taps (float32, as torch computes it). */
function gaussianKernel(size: number, sigma: number): number[] {
  const s = f32(sigma);
  const x = Array.from({ length: size }, (_, i) => f32(i - Math.floor(size / 2) + (size % 2 === 0 ? 0.5 : 0)));
  const g = x.map((v) => f32(Math.exp(f32(-f32(v * v) / f32(2 * f32(s * s))))));
  const sum = g.reduce((a, b) => f32(a + b), 0);
  return g.map((v) => f32(v / sum));
}

/** [n, n] matrix of a 1-D correlation with `kernel` under reflect padding (_filter2d along one axis). */
function blurMatrix(n: number, kernel: number[]): Float32Array {
  const m = new Float32Array(n * n);
  const front = Math.floor((kernel.length - 1) / 2);
  const reflect = (i: number): number => {
    let j = i;
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    return j;
  };
  for (let o = 0; o < n; o++) for (let k = 0; k < kernel.length; k++) m[o * n + reflect(o - front + k)]! += kernel[k]!;
  return m;
}

/** [out, in] matrix of torch's bicubic interpolation (A = −0.75) with align_corners=True along one axis. */
function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0;
  const A = -0.75;
  const near = (x: number) => f32(f32(f32((A + 2) * x - (A + 3)) * x) * x + 1); // |x| <= 1
  const far = (x: number) => f32(f32(f32(A * x - 5 * A) * x + 8 * A) * x - 4 * A); // 1 < |x| < 2
  for (let o = 0; o < outSize; o++) {
    const real = f32(scale * o);
    const i0 = Math.floor(real);
    const t = f32(real - i0);
    const w = [far(f32(t + 1)), near(t), near(f32(1 - t)), far(f32(2 - t))];
    for (let k = 0; k < 4; k++) {
      const src = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + src]! += w[k]!;
    }
  }
  return m;
}

/** diffusers' _resize_with_antialiasing(input, size) of [N, C, H, W]: blur (x then y), then bicubic (align_corners). */
export function resizeWithAntialiasing(input: Tensor, size: [number, number]): Tensor {
  const [h, w] = input.shape.slice(2) as [number, number];
  const factors = [h / size[0], w / size[1]];
  const sigmas = factors.map((f) => Math.max((f - 1) / 2, 0.001));
  const ks = sigmas.map((s) => {
    const k = Math.trunc(Math.max(2.0 * 2 * s, 3));
    return k % 2 === 0 ? k + 1 : k;
  });
  const opts = { device: input.device };
  return tidy(() => {
    const byT = tensor(blurMatrix(h, gaussianKernel(ks[0]!, sigmas[0]!)), [h, h], opts).transpose(0, 1);
    const bxT = tensor(blurMatrix(w, gaussianKernel(ks[1]!, sigmas[1]!)), [w, w], opts).transpose(0, 1);
    const wy = tensor(bicubicMatrix(h, size[0]), [size[0], h], opts);
    const wxT = tensor(bicubicMatrix(w, size[1]), [size[1], w], opts).transpose(0, 1);
    // blur along x (rows @ Bxᵀ), then along y (transpose, @ Byᵀ), then bicubic: Wy · X · Wxᵀ
    const blurred = input.matmul(bxT).transpose(2, 3).matmul(byT).transpose(2, 3);
    return wy.matmul(blurred).matmul(wxT).contiguous();
  });
}

/** _encode_image's preprocessing: [1, 3, H, W] in [0, 1] -> CLIP pixel values [1, 3, size, size]. */
export function clipPixelValues(image01: Tensor, size: number, mean: number[], std: number[]): Tensor {
  return tidy(() => {
    const resized = resizeWithAntialiasing(image01.mul(2).sub(1), [size, size]).add(1).div(2);
    const m = tensor(new Float32Array(mean), [1, 3, 1, 1], { device: image01.device });
    const s = tensor(new Float32Array(std), [1, 3, 1, 1], { device: image01.device });
    return resized.sub(m).div(s);
  });
}
