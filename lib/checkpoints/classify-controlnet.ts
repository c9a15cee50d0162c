/**
 * ControlNet and SparseCtrl state dicts, told apart by their own modules: the original ControlNet 1.0/1.1
 * layout (input_hint_block, zero_convs, middle_block_out; optionally under control_model.), diffusers'
 * ControlNetModel (controlnet_cond_embedding, controlnet_down_blocks), and AnimateDiff's SparseCtrl
 * (a ControlNet with motion modules, v3_sd15_sparsectrl_*.ckpt or diffusers' SparseControlNetModel).
 */
import type { ComponentInfo, TensorInfo } from './types';

export function classifyControlNet(tensors: Record<string, TensorInfo>): { component: ComponentInfo; notes: string[]; warnings: string[] } | undefined {
  const keys = Object.keys(tensors);
  const find = (re: RegExp) => keys.find((k) => re.test(k));
  const ldm = find(/^(control_model\.)?input_hint_block\.0\.weight$/);
  const diffusers = find(/^controlnet_cond_embedding\.conv_in\.weight$/) ?? (keys.some((k) => k.startsWith('controlnet_down_blocks.')) ? find(/^conv_in\.weight$/) : undefined);
  if (!ldm && !diffusers) return undefined;
  const notes: string[] = [];
  const warnings: string[] = [];
  const ctxKey = find(/attn2\.to_k\.weight$/);
  const ctx = ctxKey ? tensors[ctxKey]!.shape[1] : undefined;
  if (ctx !== undefined && ctx !== 768) warnings.push(`cross-attention width ${ctx}: animatorch's ControlNets are for SD1.5 (768)`);
  if (keys.some((k) => k.includes('motion_modules.'))) {
    // SparseCtrl RGB uses a single conv on VAE latents + mask (use_simplified_condition_embedding); scribble the full embedding on pixels + mask
    const simple = find(/^controlnet_cond_embedding\.weight$/);
    const channels = tensors[simple ?? find(/^controlnet_cond_embedding\.conv_in\.weight$/) ?? '']?.shape[1];
    notes.push('Export with: animatorch export --controlnet PATH --out DIR, then render with --controlnet "path=DIR,input=A.png;B.png,frames=0,15" (keyframes).');
    return {
      component: {
        type: 'sparsectrl',
        keyLayout: keys.some((k) => k.includes('temporal_transformer')) ? 'animatediff' : 'diffusers',
        description: `AnimateDiff SparseCtrl, ${simple ? 'RGB (VAE-encoded keyframes)' : 'scribble / sketch'}${channels !== undefined ? `, ${channels} conditioning channels (with the mask)` : ''}`,
      },
      notes,
      warnings,
    };
  }
  const hint = ldm ?? diffusers!;
  const channels = tensors[hint]!.shape[1];
  const full = ldm !== undefined && keys.some((k) => k.startsWith('model.diffusion_model.'));
  notes.push('Export with: animatorch export --controlnet PATH --out DIR, then render with --controlnet path=DIR,input=FRAMES.');
  if (full) notes.push('The file also holds a whole Stable Diffusion model (ControlNet 1.0 release); only control_model.* is exported.');
  return {
    component: {
      type: 'controlnet',
      keyLayout: ldm ? 'ldm' : 'diffusers',
      description: `ControlNet (${ctx === 768 ? 'SD1.x' : ctx === 1024 ? 'SD2.x' : `cross-attention ${ctx ?? '?'}`}, ${channels} conditioning channels${ldm ? ', original ControlNet layout' : ', diffusers names'})`,
    },
    notes,
    warnings,
  };
}
