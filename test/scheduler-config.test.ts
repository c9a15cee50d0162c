import { describe, expect, it } from 'vitest';
import { InvalidParameterError, tensor } from '../lib';
import { configClassName, resolveConfig, cfg } from '../lib/config';
import { createScheduler, schedulerClassNames, SCHEDULERS } from '../lib/schedulers';

const SD15 = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

function expectParamError(fn: () => unknown, parameter: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect((e as InvalidParameterError).parameter).toBe(parameter);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  expect.fail(`expected an InvalidParameterError naming ${parameter}`);
}

describe('config resolution', () => {
  it('fills in diffusers defaults and keeps snake_case keys', () => {
    const s = createScheduler('DDIMScheduler', {});
    expect(s.config).toMatchObject({
      num_train_timesteps: 1000,
      beta_start: 0.0001,
      beta_end: 0.02,
      beta_schedule: 'linear',
      trained_betas: null,
      clip_sample: true,
      set_alpha_to_one: true,
      steps_offset: 0,
      prediction_type: 'epsilon',
      thresholding: false,
      clip_sample_range: 1,
      timestep_spacing: 'leading',
      rescale_betas_zero_snr: false,
    });
    expect(createScheduler('EulerDiscreteScheduler').config.timestep_spacing).toBe('linspace');
    expect(createScheduler('LCMScheduler').config).toMatchObject({ beta_schedule: 'scaled_linear', original_inference_steps: 50, timestep_scaling: 10 });
    expect(createScheduler('DPMSolverMultistepScheduler').config).toMatchObject({ solver_order: 2, algorithm_type: 'dpmsolver++', lower_order_final: true, final_sigmas_type: 'zero' });
    expect(createScheduler('FlowMatchEulerDiscreteScheduler').config).toMatchObject({ shift: 1, num_train_timesteps: 1000 });
  });

  it("ignores `_`-prefixed metadata and other schedulers' keys (a shared scheduler_config.json), as diffusers", () => {
    for (const name of schedulerClassNames()) {
      const s = createScheduler(name, { ...SD15, solver_order: 2, shift: 3, skip_prk_steps: true, _compatibles: ['x'], _use_default_values: ['y'] });
      expect(s.className).toBe(name);
      expect(s.ignoredConfigKeys).not.toContain('_class_name');
      expect(s.config).not.toHaveProperty('_class_name');
    }
    const ddim = createScheduler('DDIMScheduler', SD15);
    expect(ddim.ignoredConfigKeys).toEqual(['skip_prk_steps']);
    expect(ddim.config.set_alpha_to_one).toBe(false);
    expect(ddim.config.steps_offset).toBe(1);
  });

  it('null takes the default (trained_betas: null in real configs)', () => {
    const s = createScheduler('DDIMScheduler', { trained_betas: null, clip_sample: null });
    expect(s.config.trained_betas).toBeNull();
    expect(s.config.clip_sample).toBe(true);
  });

  it('createScheduler(config) uses _class_name', () => {
    const s = createScheduler(SD15);
    expect(s.className).toBe('PNDMScheduler');
    expect(configClassName(SD15)).toBe('PNDMScheduler');
    expectParamError(() => createScheduler({ beta_start: 0.1 }), 'config._class_name');
  });

  it('the registry holds the diffusers class names', () => {
    expect(Object.keys(SCHEDULERS).sort()).toEqual(
      [
        'DDIMScheduler',
        'DDPMScheduler',
        'DPMSolverMultistepScheduler',
        'EulerAncestralDiscreteScheduler',
        'EulerDiscreteScheduler',
        'FlowMatchEulerDiscreteScheduler',
        'LCMScheduler',
        'PNDMScheduler',
      ].sort(),
    );
  });

  it('resolveConfig is usable on its own', () => {
    const spec = { a: cfg.int(1, 0), b: cfg.oneOf('x', ['x', 'y'] as const) };
    expect(resolveConfig({ a: 3, _meta: 1, other: 2 }, spec)).toEqual({ config: { a: 3, b: 'x' }, ignored: ['other'] });
  });
});

describe('config errors name the key', () => {
  it('non-object configs', () => {
    for (const bad of [null, 42, 'DDIMScheduler', [1, 2], tensor([1], [1])]) expectParamError(() => createScheduler('DDIMScheduler', bad), 'config');
  });

  it('unknown class names list the known ones', () => {
    expectParamError(() => createScheduler('UniPCMultistepScheduler', {}), 'className', /DDIMScheduler.*EulerDiscreteScheduler.*FlowMatchEulerDiscreteScheduler/);
    expectParamError(() => createScheduler('toString', {}), 'className');
    expectParamError(() => createScheduler(42 as unknown as string, {}), 'className');
  });

  it('unknown values of known keys', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['DDIMScheduler', { beta_schedule: 'cosine' }, 'beta_schedule'],
      ['DDIMScheduler', { prediction_type: 'flow' }, 'prediction_type'],
      ['DDIMScheduler', { timestep_spacing: 'uniform' }, 'timestep_spacing'],
      ['DDIMScheduler', { num_train_timesteps: 0 }, 'num_train_timesteps'],
      ['DDIMScheduler', { num_train_timesteps: 10.5 }, 'num_train_timesteps'],
      ['DDIMScheduler', { steps_offset: -1 }, 'steps_offset'],
      ['DDIMScheduler', { clip_sample: 'yes' }, 'clip_sample'],
      ['DDIMScheduler', { clip_sample_range: 0 }, 'clip_sample_range'],
      ['DDIMScheduler', { beta_start: '0.1' }, 'beta_start'],
      ['DDIMScheduler', { trained_betas: [0.1, 'x'] }, 'trained_betas'],
      ['DDIMScheduler', { num_train_timesteps: 3, trained_betas: [0.1, 0.2] }, 'trained_betas'],
      ['DDIMScheduler', { thresholding: true }, 'thresholding'],
      ['DDPMScheduler', { variance_type: 'learned_range' }, 'variance_type'],
      ['DDPMScheduler', { variance_type: 'big' }, 'variance_type'],
      ['EulerDiscreteScheduler', { use_exponential_sigmas: true }, 'use_exponential_sigmas'],
      ['EulerDiscreteScheduler', { interpolation_type: 'log_linear' }, 'interpolation_type'],
      ['EulerDiscreteScheduler', { final_sigmas_type: 'one' }, 'final_sigmas_type'],
      ['EulerAncestralDiscreteScheduler', { prediction_type: 'sample' }, 'prediction_type'],
      ['DPMSolverMultistepScheduler', { solver_order: 4 }, 'solver_order'],
      ['DPMSolverMultistepScheduler', { algorithm_type: 'unipc' }, 'algorithm_type'],
      ['DPMSolverMultistepScheduler', { algorithm_type: 'dpmsolver' }, 'final_sigmas_type'],
      ['DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver', final_sigmas_type: 'sigma_min', solver_order: 3 }, 'solver_order'],
      ['DPMSolverMultistepScheduler', { use_lu_lambdas: true }, 'use_lu_lambdas'],
      ['PNDMScheduler', { prediction_type: 'sample' }, 'prediction_type'],
      ['LCMScheduler', { original_inference_steps: 2000 }, 'original_inference_steps'],
      ['FlowMatchEulerDiscreteScheduler', { shift: 0 }, 'shift'],
      ['FlowMatchEulerDiscreteScheduler', { time_shift_type: 'log' }, 'time_shift_type'],
    ];
    for (const [cls, config, key] of cases) expectParamError(() => createScheduler(cls, config), key);
  });

  it('deprecated DPM names map as in diffusers', () => {
    const s = createScheduler('DPMSolverMultistepScheduler', { algorithm_type: 'deis', solver_type: 'bh2' });
    expect(s.config).toMatchObject({ algorithm_type: 'dpmsolver++', solver_type: 'midpoint' });
  });
});

describe('argument errors', () => {
  it('steps < 1 or above num_train_timesteps name numInferenceSteps', () => {
    for (const name of schedulerClassNames()) {
      const s = createScheduler(name, {});
      for (const bad of [0, -1, 1001, 2.5, NaN, '10']) expectParamError(() => s.setTimesteps(bad as number), 'numInferenceSteps');
    }
    const small = createScheduler('DDIMScheduler', { num_train_timesteps: 10 });
    small.setTimesteps(10);
    expectParamError(() => small.setTimesteps(11), 'numInferenceSteps');
  });

  it('LCM: at most original_inference_steps; PNDM with PRK: at least 4', () => {
    expectParamError(() => createScheduler('LCMScheduler').setTimesteps(51), 'numInferenceSteps', /original_inference_steps/);
    expectParamError(() => createScheduler('PNDMScheduler').setTimesteps(3), 'numInferenceSteps');
    createScheduler('PNDMScheduler', { skip_prk_steps: true }).setTimesteps(1);
  });

  it('step before setTimesteps, non-tensors, unknown timesteps, too many steps', () => {
    const x = tensor([1, 2], [1, 2], { dtype: 'float64' });
    expectParamError(() => createScheduler('DDIMScheduler').step(x, 999, x), 'setTimesteps');
    const d = createScheduler('DDIMScheduler');
    d.setTimesteps(10);
    expectParamError(() => d.step(x, 12.5, x), 'timestep');
    expectParamError(() => d.step([1] as unknown as typeof x, 900, x), 'modelOutput');
    expectParamError(() => d.step(x, 900, x, { eta: -1 }), 'eta');
    const e = createScheduler('EulerDiscreteScheduler');
    e.setTimesteps(2);
    expectParamError(() => e.step(x, 123, x), 'timestep');
    e.step(x, e.timesteps[0]!, x);
    e.step(x, e.timesteps[1]!, x);
    expectParamError(() => e.step(x, e.timesteps[1]!, x), 'step');
    expectParamError(() => d.addNoise(x, x, 1000), 'timesteps');
    expectParamError(() => d.addNoise(x, x, []), 'timesteps');
    expectParamError(() => createScheduler('FlowMatchEulerDiscreteScheduler', { use_dynamic_shifting: true }).setTimesteps(4), 'mu');
  });
});

describe('step options', () => {
  it('generator must be a Generator, options an object', () => {
    const x = tensor([1, 2], [1, 2], { dtype: 'float64' });
    const s = createScheduler('EulerAncestralDiscreteScheduler');
    s.setTimesteps(2);
    expectParamError(() => s.step(x, s.timesteps[0]!, x, { generator: 42 as never }), 'generator');
    expectParamError(() => s.step(x, s.timesteps[0]!, x, 'fast' as never), 'options');
  });
});
