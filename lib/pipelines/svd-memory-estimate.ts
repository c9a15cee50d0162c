/**
 * The peak memory of a Stable Video Diffusion render (model.yaml `family: svd`), estimated before anything
 * loads, as memory-estimate.ts does for AnimateDiff and with its helpers. SVD differs in what one call holds:
 * every frame goes through one UNet call (no context windows), both CFG halves together (a batch of 2, as
 * diffusers' StableVideoDiffusionPipeline); each transformer attends spatially over h*w tokens per frame and
 * temporally over the frames at every token; the temporal VAE decoder decodes decodeChunkSize frames per
 * call at full size (no tiling). Deliberately generous: a refusal names --max-memory.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelManifest } from '../model-manifest';
import { attentionBytes, DTYPE_BYTES, type MemoryEstimate, numbers, readJson } from './memory-estimate';
import type { SvdCheckedInputs } from './svd-inputs';
import { readSvdSettings } from './svd-settings';

/** Channels of SVD's latents (the pipeline's [1, F, 4, h, w]); the UNet takes them with the image latents, 8. */
const LATENT_CHANNELS = 4;
/**
 * Working maps of one SpatioTemporalResBlock (UNet and temporal VAE decoder) beside its input: the spatial
 * branch, the temporal branch on a permuted copy (a CPU Conv3d (3,1,1) also unfolds 3 frames), the blend and
 * its copy back. Measured on the tiny SVD model's decoder: about 11.
 */
const RESNET_WORKING_MAPS = 12;

export interface SvdArchitecture {
  unet: {
    blockOutChannels: number[];
    /** Levels with a TransformerSpatioTemporalModel: the CrossAttn down blocks, and the deepest (the mid block's). */
    attentionLevels: number[];
    /** Attention heads per level (num_attention_heads). */
    heads: number[];
    layersPerBlock: number;
  };
  vae: { blockOutChannels: number[] };
  /** Bytes of the four modules the pipeline loads (UNet, VAE decoder and encoder, CLIP image encoder), as exported. */
  weightBytes: number;
}

/** What the estimate needs of the checked inputs (checkSvdInputs' SvdCheckedInputs has them all). */
export type SvdMemoryInputs = Pick<SvdCheckedInputs, 'width' | 'height' | 'numFrames' | 'decodeChunkSize' | 'doCfg'>;

/** The sizes the estimate needs, from the exported configs beside the modules (SVD's released sizes where absent). */
export async function readSvdArchitecture(manifest: ModelManifest): Promise<SvdArchitecture> {
  const settings = readSvdSettings(manifest);
  const unet = await readJson(path.join(path.dirname(manifest.unet.file), 'config.json'));
  const vae = await readJson(path.join(path.dirname(manifest.vae.file), 'config.json'));
  const blockOut = numbers(unet.block_out_channels, [320, 640, 1280, 1280]);
  const down = Array.isArray(unet.down_block_types) ? (unet.down_block_types as unknown[]).map(String) : blockOut.map((_, i) => (i < 3 ? 'CrossAttn' : 'Down'));
  const heads = typeof unet.num_attention_heads === 'number' ? blockOut.map(() => unet.num_attention_heads as number) : numbers(unet.num_attention_heads, [5, 10, 20, 20]);
  const files = [manifest.unet.file, manifest.vae.file, settings.vaeEncoderFile, settings.imageEncoderFile];
  const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size, () => 0)));
  const deepest = blockOut.length - 1;
  return {
    unet: {
      blockOutChannels: blockOut,
      attentionLevels: [...new Set([...down.flatMap((t, i) => (t.startsWith('CrossAttn') ? [i] : [])), deepest])],
      heads,
      layersPerBlock: typeof unet.layers_per_block === 'number' ? unet.layers_per_block : 2,
    },
    vae: { blockOutChannels: numbers(vae.block_out_channels, [128, 256, 512, 512]) },
    weightBytes: sizes.reduce((a, b) => a + b, 0),
  };
}

/** The peak memory of one SVD video with these checked inputs, in `dtype`. */
export function estimateSvdRenderMemory(manifest: ModelManifest, arch: SvdArchitecture, a: SvdMemoryInputs, dtype: string): MemoryEstimate {
  const b = DTYPE_BYTES[dtype] ?? 4;
  const s = manifest.vae.scaleFactor;
  const [h, w, f] = [a.height / s, a.width / s, a.numFrames];
  const weights = arch.weightBytes * (b / (DTYPE_BYTES[manifest.dtype] ?? 4));
  const batch = a.doCfg ? 2 : 1;
  // float32 [1, F, 4, h, w] each: the latents, the guided prediction, the scheduler's output; per CFG row the
  // repeated image latents, the UNet input (latents + image latents: twice the channels) and its output.
  // Plus the image, its noise and the noised image the VAE encodes ([1, 3, H, W] float32).
  const latents = f * LATENT_CHANNELS * h * w * 4 * (3 + 4 * batch) + 3 * 3 * a.height * a.width * 4;

  const rows = batch * f;
  const u = arch.unet;
  let conv = 0;
  let attn = 0;
  u.blockOutChannels.forEach((c, i) => {
    const tokens = Math.ceil(h / 2 ** i) * Math.ceil(w / 2 ** i);
    const maps = rows * c * tokens * b;
    // each level keeps layers+1 skip connections for the up path, plus the resnets' working maps
    conv += maps * (2 * (u.layersPerBlock + 1) + RESNET_WORKING_MAPS);
    if (!u.attentionLevels.includes(i)) return;
    const heads = u.heads[i] ?? 1;
    // spatial: rows x heads matrices of tokens x tokens; temporal: batch x tokens x heads matrices of frames x frames
    const scores = Math.max(attentionBytes(rows * heads, tokens, b, manifest.attentionSliceElements), attentionBytes(batch * tokens * heads, f, b, manifest.attentionSliceElements));
    // the larger of attention (scores + q, k, v, output) and the GEGLU feed-forward (8c then 4c), beside the
    // transformer's input, states, time-embedded states and temporal mix
    attn = Math.max(attn, Math.max(scores + 4 * maps, 12 * maps) + 4 * maps);
  });
  const unet = conv + attn;

  // the decoder runs from the deepest level at latent size up to level 0 at image size, chunk frames at once;
  // its mid block attends over h*w tokens per frame (one head)
  const chunk = Math.min(a.decodeChunkSize, f);
  const vb = arch.vae.blockOutChannels;
  let vaeConv = 0;
  vb.forEach((c, i) => {
    const up = 2 ** (vb.length - 1 - i);
    vaeConv = Math.max(vaeConv, chunk * c * h * up * w * up * b * RESNET_WORKING_MAPS);
  });
  const vae = vaeConv + attentionBytes(chunk, h * w, b, manifest.attentionSliceElements);

  const frames = f * a.height * a.width * 3 + chunk * 3 * a.height * a.width * 4;
  return { total: weights + latents + Math.max(unet, vae) + frames, weights, latents, unet, vae, frames };
}

/** What to change when the estimate is over the limit, biggest part first. Names are the CLI's flags. */
export function svdMemorySuggestions(e: MemoryEstimate, a: SvdMemoryInputs): string[] {
  const out: string[] = [];
  const chunk = Math.min(a.decodeChunkSize, a.numFrames);
  if (e.vae >= e.unet && chunk > 1) out.push(`a smaller --decode-chunk-size (now ${chunk})`);
  // every frame is in the one UNet call
  if (a.numFrames > 1) out.push(`fewer --frames (now ${a.numFrames})`);
  out.push(`a smaller --width/--height (now ${a.width}x${a.height}; the image is resized)`);
  return out;
}
