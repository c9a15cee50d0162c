/** What `inspect` reports about a checkpoint or model folder: the shared vocabulary of lib/checkpoints. */
export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export type ComponentType =
  | 'sd15-checkpoint'
  | 'unet'
  | 'unet-motion'
  | 'vae'
  | 'text-encoder'
  | 'motion-module'
  | 'motion-lora'
  | 'adapter-lora'
  | 'image-lora'
  | 'controlnet'
  | 'sparsectrl'
  | 'svd-checkpoint'
  | 'svd-unet'
  | 'svd-vae'
  | 'image-encoder'
  | 'svd-model'
  | 'unknown';

export interface ComponentInfo {
  type: ComponentType;
  /** One line for people, e.g. "AnimateDiff motion module v2 (21 modules)". */
  description: string;
  /** Key naming: 'ldm' (single-file SD), 'diffusers', 'animatediff' (original repo), 'kohya'. */
  keyLayout?: 'ldm' | 'diffusers' | 'animatediff' | 'kohya';
  /** Motion module version, when this is (or holds) one. */
  motionVersion?: 'v1' | 'v2' | 'v3';
  /** Parts found in a single file (e.g. an LDM checkpoint's unet, vae, text encoder). */
  parts?: string[];
}

export interface WeightsSummary {
  tensors: number;
  /** Sum of the products of the shapes (buffers such as pe tables included). */
  parameters: number;
  /** dtype -> number of tensors. */
  dtypes: Record<string, number>;
  /** A few key names, for orientation. */
  sampleKeys: string[];
  /** Top-level prefixes (up to the first dot) -> tensor count. */
  prefixes: Record<string, number>;
}

export interface InspectResult {
  path: string;
  kind: 'file' | 'folder';
  format: 'safetensors' | 'torch-zip' | 'torch-legacy' | 'animatorch-model' | 'animatorch-controlnet' | 'diffusers-pipeline' | 'diffusers-model' | 'unknown';
  bytes?: number;
  components: ComponentInfo[];
  weights?: WeightsSummary;
  /** safetensors __metadata__, model.yaml summary, config.json _class_name, ... */
  metadata?: Record<string, unknown>;
  /** Non-tensor top-level keys of a torch checkpoint (e.g. animatediff_config, global_step). */
  otherKeys?: string[];
  /** Archive entries, when data.pkl could not be scanned. */
  archiveEntries?: string[];
  /** Compatibility notes and how to use the file with animatorch. */
  notes: string[];
  /** Things that look wrong. */
  warnings: string[];
  /**
   * Set when the file is not a valid, safe checkpoint (inspect exits 1): 'unsafe' (its pickle would
   * import and call something torch.load(weights_only=True) refuses), 'invalid' (corrupt or cut short),
   * 'unreadable' (cannot be checked without unpickling). The exporter refuses all of these.
   */
  problem?: { kind: 'unsafe' | 'invalid' | 'unreadable'; message: string };
  /** Inspections of sub-components (diffusers folders). */
  children?: InspectResult[];
  /** With `verify` on an animatorch model folder: whether every file matched model.yaml. */
  verified?: boolean;
}
