/** A random tiny model exported by scripts/export_random_model.py, cached per preset, seed, flags and exporter version. */
export function exportedModel(options: { python: string; preset?: string; seed?: number; flags?: string[] }): Promise<string>;
/** Hash of the exporter's sources: a cached model is reused only while they are unchanged. */
export function exporterHash(): string;
export const repoRoot: string;
