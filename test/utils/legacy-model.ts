/**
 * A model folder as exported before the UNet took its optional inputs (ControlNet residuals, motion_scale,
 * FreeNoise windows): a copy of `modelDir` whose model.yaml has no `unet.inputs`, which is how the library
 * tells such exports apart (lib/model-manifest.ts). The bundled demo model was one until it was re-exported
 * (scripts/demo/reexport_unet.py); the refusals of options those exports cannot run are checked on this copy.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';

export function modelWithoutUnetInputs(modelDir: string): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'animatorch-legacy-model-')), path.basename(modelDir));
  cpSync(modelDir, dir, { recursive: true });
  const file = path.join(dir, 'model.yaml');
  const manifest = parse(readFileSync(file, 'utf8')) as { unet: Record<string, unknown> };
  delete manifest.unet.inputs;
  writeFileSync(file, stringify(manifest));
  return dir;
}
