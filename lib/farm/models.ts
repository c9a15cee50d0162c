/**
 * The models a render worker can load: folders holding model.yaml, found under
 * its `models` directories. Jobs name a model by path, by the sha256 of its
 * model.yaml (or a prefix of at least 8 hex digits), by its manifest name, or
 * (full recipes) by the hashes of its files; weights never travel in a job.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readModelManifest, type ModelManifest } from '../model-manifest';
import { packageRoot } from '../native/binding';

/** Where workers look by default: the package's models/ (the bundled demo model). */
export const DEFAULT_MODELS_DIR = path.join(packageRoot, 'models');

export interface KnownModel {
  dir: string;
  manifest: ModelManifest;
  /** sha256 of model.yaml's bytes. */
  yamlSha256: string;
}

/** sha256 of a model folder's model.yaml: the id `submit --model` accepts besides a path. */
export function modelYamlHash(dir: string): string {
  return createHash('sha256').update(readFileSync(path.join(dir, 'model.yaml'))).digest('hex');
}

/** Model folders in `dirs` (each a model folder itself, or a folder of model folders). */
export async function scanModels(dirs: string[]): Promise<KnownModel[]> {
  const found = new Map<string, KnownModel>();
  const candidates: string[] = [];
  for (const d of dirs.map((x) => path.resolve(x))) {
    if (existsSync(path.join(d, 'model.yaml'))) candidates.push(d);
    else if (existsSync(d)) {
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory() && existsSync(path.join(d, e.name, 'model.yaml'))) candidates.push(path.join(d, e.name));
    }
  }
  for (const dir of candidates) {
    if (found.has(dir)) continue;
    found.set(dir, { dir, manifest: await readModelManifest(dir), yamlSha256: modelYamlHash(dir) });
  }
  return [...found.values()];
}

/** The model a job names (path, model.yaml hash or prefix, or manifest name); undefined when none matches. */
export async function findModel(known: KnownModel[], ref: string): Promise<KnownModel | undefined> {
  if (path.isAbsolute(ref) || ref.startsWith('.') || ref.includes(path.sep)) {
    const dir = path.resolve(ref);
    const hit = known.find((m) => m.dir === dir);
    if (hit) return hit;
    // A path outside the models folders is still fine when it exists on this worker.
    return existsSync(path.join(dir, 'model.yaml')) ? { dir, manifest: await readModelManifest(dir), yamlSha256: modelYamlHash(dir) } : undefined;
  }
  const ref16 = ref.toLowerCase();
  if (/^[0-9a-f]{8,64}$/.test(ref16)) {
    const hit = known.find((m) => m.yamlSha256.startsWith(ref16));
    if (hit) return hit;
  }
  return known.find((m) => m.manifest.name === ref);
}

/** The model whose files have exactly the recipe's hashes (a recipe from another machine). */
export function findModelByFiles(known: KnownModel[], files: Record<string, { sha256: string }>): KnownModel | undefined {
  const want = Object.entries(files);
  return known.find((m) => {
    const have = m.manifest.files;
    return want.length === Object.keys(have).length && want.every(([f, v]) => have[f]?.sha256.toLowerCase() === v.sha256.toLowerCase());
  });
}

/** One line per model, for "unknown model" errors and the worker's start-up log. */
export const describeModels = (known: KnownModel[]): string =>
  known.length ? known.map((m) => `${m.manifest.name} (${m.yamlSha256.slice(0, 12)}, ${m.dir})`).join(', ') : 'none';
