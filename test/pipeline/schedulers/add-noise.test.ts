import { createScheduler, schedulerNames, type SchedulerName } from '../../../src/pipeline';
import { alphasCumprod } from '../../../src/pipeline/schedulers';

// add_noise in every family is the same forward process, x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, written in
// each scheduler's own latent space: variance-preserving (DDIM, PNDM, LCM, DPM++) or, for the
// Euler family, variance-exploding x₀ + σ·ε = x_t/√ᾱ_t. So every scheduler, divided back into
// VP space, must agree with the formula at each of its integer timesteps.
const config = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  steps_offset: 1,
  timestep_spacing: 'leading',
  set_alpha_to_one: false,
  skip_prk_steps: true,
};
const ac = alphasCumprod(config);
const n = 64;
const x0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.8);
const eps = Float32Array.from({ length: n }, (_, i) => Math.cos(3 * i));
const exploding = new Set<SchedulerName>(['euler', 'euler_a']);

describe.each(schedulerNames.map((s) => [s]))('%s addNoise', (name) => {
  it('noises clean latents to each timestep’s level of the forward process', () => {
    const scheduler = createScheduler(name, config);
    scheduler.setTimesteps(10);
    let checked = 0;
    for (const t of scheduler.timesteps) {
      if (!Number.isInteger(t) || t < 0) continue;
      const noisy = scheduler.addNoise(x0, eps, t);
      const a = ac[t];
      // The VE latents are the VP ones divided by √ᾱ.
      const scale = exploding.has(name) ? Math.sqrt(a) : 1;
      for (let i = 0; i < n; i++) {
        const expected = Math.sqrt(a) * x0[i] + Math.sqrt(1 - a) * eps[i];
        expect(noisy[i] * scale).toBeCloseTo(expected, 4);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    expect(() => scheduler.addNoise(x0, eps.subarray(1), scheduler.timesteps[0])).toThrow(RangeError);
  });
});
