/**
 * How a generation mode changes the one denoising loop, without a loop of
 * its own: image-to-image starts part-way (`firstStep`), a 9-channel
 * inpainting U-Net gets the mask and masked-image latents appended to its
 * sample (`modelInput`), and 4-channel inpainting puts the kept region back
 * after each step (`afterStep`).
 */
export interface DenoiseHooks {
  /** Channels of the U-Net's sample when it takes more than the latents' (9 for SD inpainting). */
  readonly sampleChannels?: number;
  /** The U-Net's sample for one (unguided) batch, built from the scaled latents. */
  readonly modelInput?: (scaled: Float32Array) => Float32Array;
  /** The latents to continue from after the step at `index` of the schedule. */
  readonly afterStep?: (latents: Float32Array, index: number) => Float32Array;
}
