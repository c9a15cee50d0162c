/** Recognises Stable Video Diffusion weights (diffusers UNet / temporal VAE, CLIP vision encoder, SGM single file) by their keys. */
import type { ComponentInfo, TensorInfo } from './types';

export interface SvdClassification {
  components: ComponentInfo[];
  notes: string[];
  warnings: string[];
}

const EXPORT_NOTE = 'Stable Video Diffusion: export the whole diffusers folder with: animatorch export --svd FOLDER --out models/svd';

/** undefined when the keys are not SVD's. */
export function classifySvd(tensors: Record<string, TensorInfo>): SvdClassification | undefined {
  const keys = Object.keys(tensors);
  const any = (re: RegExp): boolean => keys.some((k) => re.test(k));
  const shapeOf = (re: RegExp): number[] | undefined => {
    const k = keys.find((key) => re.test(key));
    return k ? tensors[k]!.shape : undefined;
  };
  if (any(/^model\.diffusion_model\..*time_stack\./) || any(/^model\.diffusion_model\..*time_mixer\.mix_factor$/)) {
    return {
      components: [{ type: 'svd-checkpoint', keyLayout: 'ldm', description: 'Stable Video Diffusion single-file (SGM) checkpoint' }],
      notes: [],
      warnings: ['single-file SVD checkpoints are not read by the exporter: use the diffusers folder (unet/, vae/, image_encoder/) with export --svd FOLDER'],
    };
  }
  if (any(/^conv_in\.weight$/) && any(/^add_embedding\.linear_1\.weight$/) && any(/temporal_res_block\./)) {
    const inC = shapeOf(/^conv_in\.weight$/)?.[1];
    const ctx = shapeOf(/^down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight$/)?.[1];
    return {
      components: [{ type: 'svd-unet', keyLayout: 'diffusers', description: `UNetSpatioTemporalConditionModel (SVD; ${inC ?? '?'} input channels, image embedding width ${ctx ?? '?'})` }],
      notes: [EXPORT_NOTE],
      warnings: [],
    };
  }
  if (any(/^decoder\.time_conv_out\.weight$/)) {
    return {
      components: [{ type: 'svd-vae', keyLayout: 'diffusers', description: 'AutoencoderKLTemporalDecoder (SVD VAE: SD encoder, temporal decoder)' }],
      notes: [EXPORT_NOTE],
      warnings: [],
    };
  }
  if (any(/^vision_model\.encoder\.layers\./)) {
    const layers = keys.filter((k) => /^vision_model\.encoder\.layers\.\d+\.self_attn\.q_proj\.weight$/.test(k)).length;
    const width = shapeOf(/^vision_model\.embeddings\.class_embedding$/)?.[0];
    const proj = shapeOf(/^visual_projection\.weight$/)?.[0];
    return {
      components: [{ type: 'image-encoder', keyLayout: 'diffusers', description: `CLIP vision encoder: ${layers} layers, width ${width ?? '?'}${proj ? `, projection ${proj}` : ''}${width === 1280 && layers === 32 ? ' (ViT-H/14, SVD\'s image encoder)' : ''}` }],
      notes: [EXPORT_NOTE],
      warnings: [],
    };
  }
  return undefined;
}
