/**
 * StageModule: one of a pipeline's models (UNet, VAE decoder, text encoder), held for as long as the
 * pipeline's `keepModules` policy says. 'all' holds it from load to dispose(), for repeated renders;
 * 'stage' loads it when its stage starts and frees it when the stage ends, so a render holds the
 * text encoder while encoding, the UNet while denoising and the VAE while decoding, never two
 * (a full-size SD1.5 + motion module: 5.0 GiB of UNet weights instead of 5.7 GiB of all of them).
 */
import { releaseHostMemory } from '../device';
import { releaseHostCache } from '../host-cache';
import { DisposedError, InvalidParameterError, throwIfAborted } from '../errors';
import { readAheadMappedWeights, type ReadAhead, type ReadingAhead } from '../mapped-weights';
import type { Device, DType } from '../tensor';
import { loadModule, type Module, type ModuleInput, type ModuleOutput } from '../torchscript-module';

/** How long a pipeline holds its models: 'all' from load to dispose(), 'stage' only while their stage runs. */
export type KeepModules = 'all' | 'stage';
export const KEEP_MODULES = ['all', 'stage'] as const satisfies readonly KeepModules[];

export interface StageModuleOptions {
  device: Device;
  dtype?: DType;
  keep: KeepModules;
  /** Module.setGraphOptimization() after each load; undefined keeps torch's setting. */
  graphOptimization?: boolean;
  /** false: its weights are allocated outside the host cache (loadModule's `hostCache`). Default true. */
  hostCache?: boolean;
}

export class StageModule {
  readonly path: string;
  readonly keep: KeepModules;
  private module?: Module;
  private loading?: Promise<Module>;
  private disposedFlag = false;
  private holds = 0;
  private readingAhead?: ReadingAhead;
  private lastRead?: ReadAhead;
  private readonly options: StageModuleOptions;

  /** `module`: already loaded (it is then owned and freed by dispose(), or by release() under 'stage'). */
  constructor(modulePath: string, options: StageModuleOptions, module?: Module) {
    if (!(['all', 'stage'] as unknown[]).includes(options.keep)) throw new InvalidParameterError('keepModules', "'all' or 'stage'", options.keep);
    this.path = modulePath;
    this.keep = options.keep;
    this.options = options;
    this.module = module;
    if (module && options.graphOptimization !== undefined) module.setGraphOptimization(options.graphOptimization);
  }

  /** A loaded Module held until dispose() (the pipeline constructor's Modules). */
  static resident(module: Module): StageModule {
    return new StageModule(module.path, { device: 'cpu', keep: 'all' }, module);
  }

  /** What the last readAhead() found and read; undefined before one finished, or without mapped weights. */
  get lastReadAhead(): ReadAhead | undefined {
    return this.lastRead;
  }

  /** Whether its weights are in memory now. */
  get loaded(): boolean {
    return this.module !== undefined && !this.module.disposed;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * The loaded Module, loading it first when needed (concurrent callers share one load), once a
   * readAhead() in progress has finished: its first call then computes rather than reads.
   */
  async load(signal?: AbortSignal): Promise<Module> {
    if (this.disposedFlag) throw new DisposedError('Module');
    const module = this.module && !this.module.disposed ? this.module : await this.startLoad(signal);
    await this.readAheadDone(signal);
    return module;
  }

  private startLoad(signal?: AbortSignal): Promise<Module> {
    this.loading ??= loadModule(this.path, { device: this.options.device, dtype: this.options.dtype, signal, hostCache: this.options.hostCache }).then(
      (m) => {
        this.loading = undefined;
        if (this.disposedFlag) {
          m.dispose();
          throw new DisposedError('Module');
        }
        if (this.options.graphOptimization !== undefined) m.setGraphOptimization(this.options.graphOptimization);
        this.module = m;
        return m;
      },
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  /**
   * Starts reading its mapped weights into the kernel's page cache (on the CPU; readAheadMappedWeights),
   * while other stages run; load() waits for it. Nothing when a read is in progress or the module has no
   * mapped weights. A failed read is ignored: the forward reads the file itself.
   */
  readAhead(): void {
    if (this.options.device !== 'cpu' || this.disposedFlag || this.readingAhead) return;
    const reading = readAheadMappedWeights(this.path);
    this.readingAhead = reading;
    void reading.done
      .then((r) => void (this.lastRead = r), () => undefined)
      .finally(() => {
        if (this.readingAhead === reading) this.readingAhead = undefined;
      });
  }

  /** Stops a readAhead() in progress (a render that failed before its stage). */
  cancelReadAhead(): void {
    this.readingAhead?.cancel();
  }

  private async readAheadDone(signal?: AbortSignal): Promise<void> {
    const reading = this.readingAhead;
    if (!reading) return;
    const cancel = (): void => reading.cancel();
    if (signal?.aborted) cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      await reading.done.catch(() => undefined);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    throwIfAborted(signal);
  }

  /** Runs `forward`, loading the module first when it is not in memory. */
  async forward(...inputs: ModuleInput[]): Promise<ModuleOutput> {
    return (await this.load()).forward(...inputs);
  }

  /** Runs another scripted method, loading the module first when needed. */
  async call(method: string, ...inputs: ModuleInput[]): Promise<ModuleOutput> {
    return (await this.load()).call(method, ...inputs);
  }

  /**
   * The stage that needs it ended: under 'stage', frees the weights (a forward in flight finishes
   * first) and hands the freed pages back to the OS. True when it freed them. Under 'all' only the host
   * cache's free memory goes back. `nextStage`: another stage follows at once, and the host cache keeps
   * its free memory (this module's freed weights among it) for that stage's tensors: mapping them afresh
   * would populate new pages.
   */
  release(nextStage = false): boolean {
    if (this.holds > 0) return false;
    if (this.keep !== 'stage' || !this.loaded) {
      if (!nextStage) releaseHostCache();
      return false;
    }
    this.module!.dispose();
    this.module = undefined;
    releaseHostMemory({ keepHostCache: nextStage });
    return true;
  }

  /**
   * Loads it and keeps it loaded while `fn` runs (release() inside does nothing), then releases it:
   * several calls of one stage (a benchmark's repetitions) without a load each.
   */
  async hold<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.holds++;
    try {
      await this.load(signal);
      return await fn();
    } finally {
      this.holds--;
      this.release();
    }
  }

  /** Frees the weights for good. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.cancelReadAhead();
    this.module?.dispose();
    this.module = undefined;
  }
}
