import { z } from 'zod';
import { GiraffeError } from '../../../errors';
import { MAX_SEED, requestLimits } from '../../../pipeline/generate-request';

/**
 * The body of `POST /sdapi/v1/txt2img`: A1111's
 * `StableDiffusionProcessingTxt2Img` fields (modules/api/models.py). Like
 * pydantic there, unknown fields are dropped, not refused (SillyTavern's
 * server plugin forwards its own `url` and `auth` in the body), and every
 * field may be null. Fields we cannot honour are typed here and judged in
 * {@link refuseUnsupported}: ignored where the picture stays right, refused
 * where ignoring them would give a different picture than asked for.
 */
const int = z.number().int();
const num = z.number();
const str = z.string().max(requestLimits.maxPromptChars);
const side = int
  .min(requestLimits.minSide)
  .max(requestLimits.maxSide)
  .multipleOf(8, { message: 'must be a multiple of 8' });

const txt2imgFields = {
  prompt: str.nullish().describe('Default "".'),
  negative_prompt: str.nullish(),
  styles: z.array(z.string()).nullish().describe('Refused unless empty: giraffe has no saved styles.'),
  seed: int.min(-1).max(MAX_SEED).nullish().describe('-1 (default): random; the seed used is in `info`.'),
  subseed: int.nullish().describe('Ignored (variation seeds need `subseed_strength`).'),
  subseed_strength: num.min(0).max(1).nullish().describe('Refused above 0: no variation seeds.'),
  seed_resize_from_h: int.nullish().describe('Ignored.'),
  seed_resize_from_w: int.nullish().describe('Ignored.'),
  sampler_name: z.string().max(100).nullish().describe('One of `GET /sdapi/v1/samplers`. Default "Euler".'),
  sampler_index: z
    .string()
    .max(100)
    .nullish()
    .describe('Older name of `sampler_name`; used when that is unset.'),
  scheduler: z
    .string()
    .max(100)
    .nullish()
    .describe('One of `GET /sdapi/v1/schedulers`. Default "automatic".'),
  batch_size: int.min(1).max(requestLimits.maxImages).nullish().describe('Default 1.'),
  n_iter: int.min(1).max(requestLimits.maxImages).nullish().describe('Default 1; batch_size × n_iter ≤ 8.'),
  steps: int.min(1).max(requestLimits.maxSteps).nullish().describe('Default 50, as A1111.'),
  cfg_scale: num.min(0).max(requestLimits.maxGuidance).nullish().describe('Default 7.'),
  width: side.nullish().describe('Default 512.'),
  height: side.nullish().describe('Default 512.'),
  restore_faces: z.boolean().nullish().describe('Ignored: no face restoration.'),
  tiling: z.boolean().nullish().describe('Refused when true.'),
  do_not_save_samples: z.boolean().nullish().describe('Ignored.'),
  do_not_save_grid: z.boolean().nullish().describe('Ignored.'),
  eta: num.nullish().describe('Ignored.'),
  denoising_strength: num.min(0).max(1).nullish().describe('txt2img: ignored (hires fix only).'),
  s_min_uncond: num.nullish(),
  s_churn: num.nullish(),
  s_tmax: num.nullish(),
  s_tmin: num.nullish(),
  s_noise: num.nullish(),
  override_settings: z
    .record(z.string(), z.unknown())
    .nullish()
    .describe(
      '`sd_model_checkpoint` picks the model and `samples_format` the file format; others are ignored.',
    ),
  override_settings_restore_afterwards: z.boolean().nullish(),
  refiner_checkpoint: z.string().nullish().describe('Refused unless empty: no refiner.'),
  refiner_switch_at: num.nullish(),
  disable_extra_networks: z.boolean().nullish(),
  firstpass_image: z.string().nullish().describe('Refused unless empty.'),
  comments: z.record(z.string(), z.unknown()).nullish(),
  enable_hr: z.boolean().nullish().describe('Refused when true: no hires fix.'),
  firstphase_width: int.nullish(),
  firstphase_height: int.nullish(),
  hr_scale: num.nullish(),
  hr_upscaler: z.string().nullish(),
  hr_second_pass_steps: int.nullish(),
  hr_resize_x: int.nullish(),
  hr_resize_y: int.nullish(),
  hr_checkpoint_name: z.string().nullish(),
  hr_sampler_name: z.string().nullish(),
  hr_scheduler: z.string().nullish(),
  hr_prompt: z.string().nullish(),
  hr_negative_prompt: z.string().nullish(),
  force_task_id: z.string().max(256).nullish().describe('Ignored: the job id is in `x-giraffe-job-id`.'),
  script_name: z.string().nullish().describe('Refused unless empty: no scripts.'),
  script_args: z.array(z.unknown()).nullish(),
  send_images: z.boolean().nullish().describe('Default true; false answers with no images.'),
  save_images: z.boolean().nullish().describe('Ignored: results are kept for RETENTION_SECONDS anyway.'),
  alwayson_scripts: z
    .record(z.string(), z.unknown())
    .nullish()
    .describe('Refused unless empty: no extensions (ControlNet, ADetailer …).'),
  infotext: z.string().nullish().describe('Refused unless empty.'),
};

export const txt2imgRequestSchema = z
  .object(txt2imgFields)
  .meta({ id: 'A1111Txt2ImgRequest', description: "AUTOMATIC1111's txt2img request." });
export type Txt2ImgRequest = z.output<typeof txt2imgRequestSchema>;

/** `POST /sdapi/v1/img2img`: the txt2img fields plus A1111's img2img ones. */
export const img2imgRequestSchema = z
  .object({
    ...txt2imgFields,
    init_images: z
      .array(z.string())
      .min(1)
      .nullish()
      .describe('Base64 (or `data:` URL) PNG, JPEG or WebP; the first one is used.'),
    mask: z.string().nullish().describe('Base64 mask: white is repainted, black kept.'),
    denoising_strength: num.min(0).max(1).nullish().describe('Default 0.75.'),
    resize_mode: int
      .min(0)
      .max(3)
      .nullish()
      .describe('0 just resize (stretch), 1 crop and resize, 2 resize and fill (fit), 3 latent (stretch).'),
    mask_blur: int.min(0).max(64).nullish().describe('Pixels; default 4.'),
    mask_blur_x: int.nullish(),
    mask_blur_y: int.nullish(),
    inpainting_fill: int.min(0).max(3).nullish().describe('Ignored: masked areas start from the original.'),
    inpaint_full_res: z
      .union([z.boolean(), int])
      .nullish()
      .describe('Ignored: the whole picture is inpainted.'),
    inpaint_full_res_padding: int.nullish(),
    inpainting_mask_invert: int.min(0).max(1).nullish().describe('1: repaint the black part instead.'),
    initial_noise_multiplier: num.nullish().describe('Ignored.'),
    image_cfg_scale: num.nullish().describe('Ignored (instruct-pix2pix only).'),
    latent_mask: z.string().nullish().describe('Refused unless empty.'),
    include_init_images: z.boolean().nullish().describe('Echo `init_images` and `mask` in `parameters`.'),
  })
  .meta({ id: 'A1111Img2ImgRequest', description: "AUTOMATIC1111's img2img request." });
export type Img2ImgRequest = z.output<typeof img2imgRequestSchema>;

function refuse(field: string, why: string): never {
  throw new GiraffeError('GIRAFFE_ERR_SDAPI_UNSUPPORTED', `${field}: ${why}`, { field });
}

const nonEmpty = (value: string | null | undefined): boolean =>
  typeof value === 'string' && value.trim() !== '';

/**
 * Refuses what giraffe would silently get wrong: a picture of another size
 * (hires fix), another look (styles, tiling, refiner, variation seeds) or
 * without what an extension or script was asked to do. Quality knobs with no
 * equivalent (restore_faces, eta, s_*, clip skip) are ignored instead.
 */
export function refuseUnsupported(body: Txt2ImgRequest & Partial<Img2ImgRequest>): void {
  if (body.enable_hr) refuse('enable_hr', 'hires fix is not supported; generate at the final size instead');
  if (body.tiling) refuse('tiling', 'tileable images are not supported');
  if (body.styles && body.styles.length > 0) refuse('styles', 'saved prompt styles do not exist here');
  if ((body.subseed_strength ?? 0) > 0) refuse('subseed_strength', 'variation seeds are not supported');
  if (nonEmpty(body.refiner_checkpoint)) refuse('refiner_checkpoint', 'refiner models are not supported');
  if (nonEmpty(body.firstpass_image)) refuse('firstpass_image', 'is not supported');
  if (nonEmpty(body.script_name)) refuse('script_name', `scripts are not supported ("${body.script_name}")`);
  if (body.alwayson_scripts && Object.keys(body.alwayson_scripts).length > 0)
    refuse(
      'alwayson_scripts',
      `extensions are not supported (${Object.keys(body.alwayson_scripts).join(', ')}); send {}`,
    );
  if (nonEmpty(body.infotext)) refuse('infotext', 'is not supported; send the parameters as fields');
  if (nonEmpty(body.latent_mask)) refuse('latent_mask', 'is not supported');
  const images = (body.batch_size ?? 1) * (body.n_iter ?? 1);
  if (images > requestLimits.maxImages)
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `batch_size × n_iter: at most ${requestLimits.maxImages} images per call (asked for ${images})`,
      { field: 'batch_size' },
    );
}
