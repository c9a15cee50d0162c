/**
 * Progress events of AnimateDiffPipeline.generate(), a union tagged by `stage`.
 * Times are milliseconds; `etaMs` extrapolates the mean time per step so far.
 */

export interface LatentPreview {
  /** uint8 RGB at latent resolution: [F, h, w, 3]. */
  frames: Uint8Array;
  shape: [number, number, number, 3];
}

interface ProgressBase {
  /** 1-based count of finished units in this stage. */
  step: number;
  /** Units in this stage. */
  total: number;
  /** Since the stage started. */
  elapsedMs: number;
  /** Estimated time left in this stage. */
  etaMs: number;
  /** Which video (0-based) of `videos` when several seeds/prompts are rendered. */
  video: number;
  videos: number;
}

/** After each denoising step. */
export interface DenoiseProgress extends ProgressBase {
  stage: 'denoise';
  /** The scheduler timestep just done. */
  timestep: number;
  /** With freeInit: which iteration (0-based) of `freeInitIterations` is running; `step`/`total` count its steps. */
  freeInitIteration?: number;
  freeInitIterations?: number;
  /** With `preview: true`: a linear RGB projection of the current prediction (no VAE). */
  preview?: LatentPreview;
}

/** After each decoded chunk of frames. */
export interface DecodeProgress extends ProgressBase {
  stage: 'decode';
}

export type ProgressEvent = DenoiseProgress | DecodeProgress;
export type ProgressCallback = (event: ProgressEvent) => void;

/** Counts steps of one stage and derives elapsed and remaining time. */
export class ProgressTracker {
  private readonly start: number;
  private done = 0;

  constructor(
    readonly total: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
  }

  /** Marks one more step done; returns {step, total, elapsedMs, etaMs}. */
  tick(): { step: number; total: number; elapsedMs: number; etaMs: number } {
    this.done++;
    const elapsedMs = this.now() - this.start;
    const etaMs = this.done >= this.total ? 0 : (elapsedMs / this.done) * (this.total - this.done);
    return { step: this.done, total: this.total, elapsedMs, etaMs };
  }
}

/** Calls the user's callback, if any; an exception thrown there rejects generate() (after its cleanup). */
export function emitProgress(callback: ProgressCallback | undefined, event: ProgressEvent): void {
  if (!callback) return;
  callback(event);
}
