/**
 * Linear approximations of the VAE decoder: RGB ≈ Σ_c latent_c · factor[c] + bias.
 * Rows are latent channels, columns R, G, B; fitted on the models' own
 * latents (the values ComfyUI uses for its previews).
 */
export interface LatentRgbFactors {
  readonly channels: number;
  readonly factors: readonly (readonly [number, number, number])[];
  readonly bias: readonly [number, number, number];
}

/** Stable Diffusion 1.x and 2.x (4-channel latents of the SD VAE). */
export const sd1LatentRgb: LatentRgbFactors = {
  channels: 4,
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** SDXL (its own VAE: same shape, other factors, and a bias). */
export const sdxlLatentRgb: LatentRgbFactors = {
  channels: 4,
  factors: [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
  ],
  bias: [0.1084, -0.0175, -0.0011],
};

export type LatentFormat = 'sd1' | 'sdxl';

export const latentRgbFactors: Readonly<Record<LatentFormat, LatentRgbFactors>> = {
  sd1: sd1LatentRgb,
  sdxl: sdxlLatentRgb,
};
