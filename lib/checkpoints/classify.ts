/** Classifies a state dict (SD1.5 checkpoint, UNet, VAE, motion module, LoRAs...) by its key names and shapes. */
import { classifyControlNet } from './classify-controlnet';
import { classifySvd } from './classify-svd';
import type { ComponentInfo, TensorInfo, WeightsSummary } from './types';

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export function summarizeWeights(tensors: Record<string, TensorInfo>): WeightsSummary {
  const dtypes: Record<string, number> = {};
  const prefixes: Record<string, number> = {};
  let parameters = 0;
  const keys = Object.keys(tensors);
  for (const k of keys) {
    const t = tensors[k]!;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    parameters += numel(t.shape);
    const prefix = k.split('.')[0]!;
    prefixes[prefix] = (prefixes[prefix] ?? 0) + 1;
  }
  return { tensors: keys.length, parameters, dtypes, sampleKeys: keys.slice(0, 5), prefixes };
}

function motionVersionOf(keys: string[], tensors: Record<string, TensorInfo>): { version?: 'v1' | 'v2' | 'v3'; modules: number; peLength?: number } {
  const modules = new Set<string>();
  for (const k of keys) {
    const m = /^(.*?motion_modules\.\d+)\./.exec(k);
    if (m) modules.add(m[1]!);
  }
  const hasMid = keys.some((k) => /(^|\.)mid_block\.motion_modules\./.test(k));
  const peKey = keys.find((k) => /(pos_encoder|pos_embed)\.pe$/.test(k));
  const peLength = peKey ? tensors[peKey]!.shape[1] : undefined;
  // diffusers' detection (single_file_utils): mid-block module -> v2; else pe length 24 -> v1; else v3.
  const version = hasMid ? 'v2' : peLength === 24 ? 'v1' : peLength !== undefined ? 'v3' : undefined;
  return { version, modules: modules.size, peLength };
}

/** Classifies a state dict by its key names and shapes. */
export function classifyTensors(tensors: Record<string, TensorInfo>, fileName = ''): { components: ComponentInfo[]; notes: string[]; warnings: string[] } {
  const keys = Object.keys(tensors);
  const components: ComponentInfo[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const any = (re: RegExp): boolean => keys.some((k) => re.test(k));
  const count = (re: RegExp): number => keys.filter((k) => re.test(k)).length;
  const shapeOf = (re: RegExp): number[] | undefined => {
    const k = keys.find((key) => re.test(key));
    return k ? tensors[k]!.shape : undefined;
  };
  const control = keys.length > 0 ? classifyControlNet(tensors) : undefined;
  if (control) return { components: [control.component], notes: control.notes, warnings: control.warnings };
  const loraKey = /(_lora\.(down|up)\.weight|lora_(down|up)\.weight|\.lora\.(down|up)\.weight|lora_[AB]\.weight)$/;

  if (keys.length === 0) {
    warnings.push('no tensors found');
    return { components, notes, warnings };
  }

  // Kohya image LoRA
  if (any(/^lora_(unet|te\d?)_/)) {
    const modules = count(/^lora_(unet|te\d?)_.*\.lora_down\.weight$/);
    const rank = shapeOf(/^lora_(unet|te\d?)_.*\.lora_down\.weight$/)?.[0];
    const te = any(/^lora_te\d?_/);
    const sdxl = any(/^lora_te2_/) || any(/^lora_unet_input_blocks_/) || any(/^lora_unet_output_blocks_/);
    components.push({
      type: 'image-lora',
      keyLayout: 'kohya',
      description: `kohya image LoRA: ${modules} modules${rank ? `, rank ${rank}` : ''}${te ? ', UNet + text encoder' : ', UNet only'}${any(/\.alpha$/) ? ', with .alpha entries' : ''}`,
    });
    notes.push('Use with export: --lora PATH[:alpha] (alpha defaults to 0.8 as in AnimateDiff; the file\'s .alpha entries are ignored, so strength differs from A1111).');
    if (sdxl) warnings.push('This looks like an SDXL LoRA (lora_te2_ / input_blocks keys); animatorch supports SD1.5 only.');
    return { components, notes, warnings };
  }

  const svd = classifySvd(tensors);
  if (svd) return svd;

  const motionKeys = keys.filter((k) => k.includes('motion_modules.'));
  const loraKeys = keys.filter((k) => loraKey.test(k));

  // MotionLoRA: LoRA processors inside motion modules
  if (loraKeys.length > 0 && loraKeys.some((k) => k.includes('motion_modules.'))) {
    const rank = tensors[loraKeys.find((k) => /down\.weight$/.test(k)) ?? loraKeys[0]!]!.shape[0];
    components.push({
      type: 'motion-lora',
      keyLayout: loraKeys.some((k) => k.includes('temporal_transformer')) ? 'animatediff' : 'diffusers',
      description: `AnimateDiff MotionLoRA: ${loraKeys.length / 2} LoRA pairs${rank ? `, rank ${rank}` : ''}`,
    });
    notes.push('MotionLoRA needs a v2 motion module (mm_sd_v15_v2); use with export: --motion-lora PATH[:alpha] (alpha default 1.0; W += alpha·up@down).');
    if (any(/mid_block\.motion_modules\./)) notes.push('It has mid-block entries, so it fits only a v2 motion module (v1/v3 have no mid-block module).');
    return { components, notes, warnings };
  }

  // v3 domain adapter: LoRA on the spatial transformers (attn1/attn2), no motion modules
  if (loraKeys.length > 0 && loraKeys.some((k) => /attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\./.test(k))) {
    const rank = tensors[loraKeys.find((k) => /down\.weight$/.test(k)) ?? loraKeys[0]!]!.shape[0];
    const isAdapterName = /adapter/i.test(fileName);
    components.push({
      type: 'adapter-lora',
      keyLayout: 'diffusers',
      description: `${isAdapterName ? 'AnimateDiff v3 domain adapter' : 'SD UNet LoRA (diffusers attention-processor names, like the AnimateDiff v3 domain adapter)'}: ${loraKeys.length / 2} LoRA pairs${rank ? `, rank ${rank}` : ''}`,
    });
    notes.push('The v3 domain adapter goes with the v3 motion module (v3_sd15_mm); use with export: --adapter-lora PATH[:alpha] (alpha default 1.0).');
    return { components, notes, warnings };
  }

  // Motion module (AnimateDiff naming with temporal_transformer, or diffusers MotionAdapter naming)
  const hasSpatial = any(/(^|\.)conv_in\.weight$/) || any(/^model\.diffusion_model\./);
  if (motionKeys.length > 0 && !hasSpatial) {
    const { version, modules, peLength } = motionVersionOf(motionKeys, tensors);
    const layout = motionKeys.some((k) => k.includes('temporal_transformer')) ? 'animatediff' : 'diffusers';
    components.push({
      type: 'motion-module',
      keyLayout: layout,
      ...(version ? { motionVersion: version } : {}),
      description: `AnimateDiff motion module ${version ?? '(version unknown)'}: ${modules} modules${peLength ? `, pe length ${peLength}` : ''}${layout === 'diffusers' ? ' (diffusers MotionAdapter names)' : ''}`,
    });
    notes.push(`Use with export: --motion-module PATH${version ? '' : ' --motion-version v1|v3 (no pe table to tell them apart)'}.`);
    if (version === 'v1') notes.push('v1: at most 24 frames per window; v1 normalises resnets over all frames jointly, so exact v1 numerics need --numerics animatediff.');
    if (version === 'v2') notes.push('v2: MotionLoRAs (--motion-lora) were trained for this version.');
    if (version === 'v3') notes.push('v3: pair it with the v3 domain adapter (--adapter-lora v3_sd15_adapter.ckpt) as AnimateDiff does.');
    if (modules !== 20 && modules !== 21) warnings.push(`expected 20 (v1/v3) or 21 (v2) motion modules for SD1.5, found ${modules}`);
    const c = shapeOf(/proj_in\.weight$/)?.[0];
    if (c !== undefined && c !== 320 && c !== 640 && c !== 1280) warnings.push(`unexpected motion module width ${c} (SD1.5 uses 320/640/1280)`);
    return { components, notes, warnings };
  }

  // LDM single-file Stable Diffusion checkpoint
  if (any(/^model\.diffusion_model\./) || any(/^first_stage_model\./) || any(/^cond_stage_model\./) || any(/^conditioner\.embedders\./)) {
    const parts: string[] = [];
    if (any(/^model\.diffusion_model\./)) parts.push('unet');
    if (any(/^first_stage_model\./)) parts.push('vae');
    if (any(/^cond_stage_model\./) || any(/^conditioner\./)) parts.push('text_encoder');
    const ctx = shapeOf(/^model\.diffusion_model\.input_blocks\.1\.1\.transformer_blocks\.0\.attn2\.to_k\.weight$/)?.[1];
    const sdxl = any(/^conditioner\.embedders\.1\./) || any(/^model\.diffusion_model\.label_emb\./);
    const family = sdxl ? 'SDXL' : ctx === 1024 ? 'SD2.x' : ctx === 768 ? 'SD1.x' : 'Stable Diffusion (family unknown)';
    const mm = any(/^model\.diffusion_model\..*motion_modules\./);
    components.push({
      type: 'sd15-checkpoint',
      keyLayout: 'ldm',
      parts,
      description: `${family} single-file (LDM) checkpoint: ${parts.join(' + ')}${mm ? ' (with motion modules)' : ''}`,
    });
    if (family === 'SD1.x') notes.push('Use as the base model: export --base PATH (a DreamBooth/fine-tuned SD1.5 file works the same).');
    else warnings.push(`${family} is not supported: AnimateDiff motion modules here are for SD1.5 (cross-attention width 768).`);
    if (!parts.includes('vae')) notes.push('No VAE inside: the export needs one from elsewhere (a diffusers folder as --base).');
    if (!parts.includes('text_encoder')) notes.push('No text encoder inside.');
    if (any(/^model_ema\./)) notes.push('Has EMA weights (model_ema.*); the non-EMA UNet is what loaders use.');
    return { components, notes, warnings };
  }

  // diffusers component state dicts
  if (any(/^text_model\.encoder\.layers\./)) {
    const layers = count(/^text_model\.encoder\.layers\.\d+\.self_attn\.q_proj\.weight$/);
    const width = shapeOf(/^text_model\.embeddings\.token_embedding\.weight$/)?.[1];
    components.push({ type: 'text-encoder', keyLayout: 'diffusers', description: `CLIP text encoder: ${layers} layers, width ${width ?? '?'}${width === 768 && layers === 12 ? ' (SD1.5 CLIP ViT-L/14)' : ''}` });
    if (width !== undefined && width !== 768) warnings.push(`text width ${width}: SD1.5 uses 768`);
    return { components, notes, warnings };
  }
  if (any(/^(encoder|decoder)\.conv_in\.weight$/) || any(/^(encoder|decoder)\.down\.\d+\./) || any(/^post_quant_conv\./)) {
    const ldm = any(/^(encoder|decoder)\.(down|up)\.\d+\./);
    const z = shapeOf(/^post_quant_conv\.weight$/)?.[0];
    components.push({ type: 'vae', keyLayout: ldm ? 'ldm' : 'diffusers', description: `VAE (AutoencoderKL${z ? `, ${z} latent channels` : ''}${ldm ? ', LDM names' : ''})` });
    return { components, notes, warnings };
  }
  if (any(/^conv_in\.weight$/) && any(/^down_blocks\./)) {
    const ctx = shapeOf(/^down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight$/)?.[1];
    const inC = shapeOf(/^conv_in\.weight$/)?.[1];
    if (motionKeys.length > 0) {
      const { version, modules } = motionVersionOf(motionKeys, tensors);
      components.push({
        type: 'unet-motion',
        keyLayout: 'diffusers',
        ...(version ? { motionVersion: version } : {}),
        description: `UNetMotionModel (SD1.5 UNet + motion modules ${version ?? ''}, ${modules} modules)`,
      });
    } else
      components.push({
        type: 'unet',
        keyLayout: 'diffusers',
        description: `UNet2DConditionModel (${ctx === 768 ? 'SD1.x' : ctx === 1024 ? 'SD2.x' : `cross-attention ${ctx ?? '?'}`}, ${inC ?? '?'} input channels)`,
      });
    if (ctx !== undefined && ctx !== 768) warnings.push(`cross-attention width ${ctx}: animatorch supports SD1.5 (768)`);
    if (inC !== undefined && inC !== 4) warnings.push(`${inC} input channels: an inpainting/other UNet, not text-to-image SD1.5`);
    return { components, notes, warnings };
  }
  if (loraKeys.length > 0) {
    components.push({ type: 'image-lora', keyLayout: 'diffusers', description: `LoRA (${loraKeys.length / 2} pairs, diffusers/PEFT names)` });
    notes.push('animatorch\'s exporter reads kohya LoRAs (--lora), MotionLoRAs (--motion-lora) and the v3 adapter (--adapter-lora).');
    return { components, notes, warnings };
  }
  components.push({ type: 'unknown', description: 'not recognised (no SD1.5, AnimateDiff or LoRA key layout matched)' });
  return { components, notes, warnings };
}
