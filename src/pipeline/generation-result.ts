import type { ResolvedRequest } from './generate-request';
import type { DecodedPixels } from './stages/decode-latents';

/** Milliseconds spent per stage; `session_run_ms` is the part spent inside onnxruntime. */
export interface GenerationTimings {
  readonly total_ms: number;
  readonly text_encoder_ms: number;
  readonly denoise_ms: number;
  readonly vae_decoder_ms: number;
  readonly image_encode_ms: number;
  /** Image requests: decoding and fitting the input image (and mask). */
  readonly input_decode_ms?: number;
  /** Image requests: the VAE encoder's run. */
  readonly vae_encoder_ms?: number;
  readonly session_run_ms: number;
  readonly unet_calls: number;
}

export interface GenerateResult {
  /** Encoded images in the request's output format. */
  readonly images: Buffer[];
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  /** The request with every default filled in: enough to make the same images again. */
  readonly request: ResolvedRequest;
  /** AUTOMATIC1111-style infotext (also in each PNG's `parameters` chunk). */
  readonly parameters: string;
  readonly timings: GenerationTimings;
  /** Steps taken from `resumeFrom` instead of being run (0: the run started from noise). */
  readonly resumed_from_step: number;
}

/**
 * A generation whose device work is over: the VAE's output, not yet turned
 * into bytes ({@link finishImages} does that, on any thread).
 */
export interface RenderedGeneration {
  readonly decoded: DecodedPixels;
  readonly request: ResolvedRequest;
  /** The model's id and device, for the infotext. */
  readonly model: string;
  readonly device: string;
  /** When the generation began, in milliseconds since the Unix epoch (comparable across threads). */
  readonly startedAt: number;
  readonly timings: Omit<GenerationTimings, 'total_ms' | 'image_encode_ms'>;
  readonly resumed_from_step: number;
}
