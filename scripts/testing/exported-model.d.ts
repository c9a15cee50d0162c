/** A random tiny model exported by scripts/export_random_model.py, cached per preset, seed, flags, exporter version and exporting torch (asked of `python` when torchVersion is not given). */
export function exportedModel(options: { python: string; torchVersion?: string; preset?: string; seed?: number; flags?: string[] }): Promise<string>;
/** Hash of the exporter's sources: a cached model is reused only while they are unchanged. */
export function exporterHash(): string;
export const repoRoot: string;
