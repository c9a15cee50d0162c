/** Stable Video Diffusion: export arguments, inspect's recognition of SVD weights and of an exported SVD folder. */
import { describe, expect, it } from 'vitest';
import { classifyTensors } from '../lib/checkpoints/classify';
import { inspectPath } from '../lib/checkpoints/inspect';
import type { TensorInfo } from '../lib/checkpoints/types';
import { buildExportArgs } from '../lib/model-export';
import { readModelManifest } from '../lib/model-manifest';
import { exportedSvdModel } from './utils/svd-model';

const f32 = (...shape: number[]): TensorInfo => ({ dtype: 'F16', shape });

describe('export --svd', () => {
  it('passes the SVD exporter its flags', () => {
    expect(buildExportArgs({ svd: 'in/', out: 'models/svd', dtype: 'float16', device: 'cuda', verify: false })).toEqual([
      '--svd', 'in/', '--out', 'models/svd', '--dtype', 'float16', '--device', 'cuda', '--no-verify',
    ]);
  });
  it('refuses AnimateDiff flags with --svd', () => {
    expect(() => buildExportArgs({ svd: 'in/', out: 'o', motionModule: 'mm.ckpt' })).toThrow('--motion-module is for AnimateDiff exports');
    expect(() => buildExportArgs({ svd: '', out: 'o' })).toThrow('--svd expects');
  });
});

describe('inspect recognises SVD weights', () => {
  it('the spatio-temporal UNet', () => {
    const r = classifyTensors({
      'conv_in.weight': f32(320, 8, 3, 3),
      'add_embedding.linear_1.weight': f32(1280, 768),
      'down_blocks.0.resnets.0.temporal_res_block.conv1.weight': f32(320, 320, 3, 1, 1),
      'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight': f32(320, 1024),
    });
    expect(r.components[0]).toMatchObject({ type: 'svd-unet', keyLayout: 'diffusers' });
    expect(r.components[0]!.description).toContain('8 input channels, image embedding width 1024');
    expect(r.notes.join(' ')).toContain('export --svd FOLDER');
  });
  it('the temporal VAE and the CLIP vision encoder', () => {
    expect(classifyTensors({ 'decoder.time_conv_out.weight': f32(3, 3, 3, 1, 1), 'encoder.conv_in.weight': f32(128, 3, 3, 3) }).components[0]!.type).toBe('svd-vae');
    const keys: Record<string, TensorInfo> = { 'vision_model.embeddings.class_embedding': f32(1280), 'visual_projection.weight': f32(1024, 1280) };
    for (let i = 0; i < 32; i++) keys[`vision_model.encoder.layers.${i}.self_attn.q_proj.weight`] = f32(1280, 1280);
    const r = classifyTensors(keys);
    expect(r.components[0]).toMatchObject({ type: 'image-encoder' });
    expect(r.components[0]!.description).toBe("CLIP vision encoder: 32 layers, width 1280, projection 1024 (ViT-H/14, SVD's image encoder)");
  });
  it('an SGM single file, with a warning', () => {
    const r = classifyTensors({ 'model.diffusion_model.input_blocks.1.0.time_stack.in_layers.0.weight': f32(320) });
    expect(r.components[0]!.type).toBe('svd-checkpoint');
    expect(r.warnings[0]).toContain('use the diffusers folder');
  });
});

describe('an exported SVD folder', () => {
  it('has family svd and is inspected as such', async () => {
    const dir = await exportedSvdModel(0);
    const m = await readModelManifest(dir);
    expect([m.family, m.inChannels, m.scheduler.prediction_type, m.scheduler.timestep_type]).toEqual(['svd', 8, 'v_prediction', 'continuous']);
    const r = await inspectPath(dir, { verify: true });
    expect(r.components[0]).toMatchObject({ type: 'svd-model', parts: ['unet', 'vae', 'image_encoder'] });
    expect(r.verified).toBe(true);
    expect(r.notes.join(' ')).toContain('--image');
  }, 120_000);
});
