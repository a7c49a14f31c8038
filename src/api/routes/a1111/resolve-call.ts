import type { FastifyInstance } from 'fastify';
import { GiraffeError } from '../../../errors';
import type { GenerateRequest, OutputFormat } from '../../../pipeline/generate-request';
import { callerModel, resolveCheckpoint } from './checkpoints';
import type { Img2ImgRequest, Txt2ImgRequest } from './generation-request';
import { refuseUnsupported } from './generation-request';
import type { A1111OptionsStore } from './options-store';
import { findSampler, findScheduleType, type A1111Sampler } from './samplers';

/** A1111's defaults (modules/processing.py), where they differ from giraffe's. */
export const A1111_DEFAULTS = {
  sampler: 'Euler',
  scheduler: 'automatic',
  steps: 50,
  cfg_scale: 7,
  width: 512,
  height: 512,
} as const;

/** The picture settings a call resolved to, before defaults the job adds (seed). */
export interface ResolvedCall {
  readonly modelId: string;
  readonly sampler: A1111Sampler;
  readonly karras: boolean;
  readonly generation: GenerateRequest;
}

function unsupported(field: string, message: string): never {
  throw new GiraffeError('GIRAFFE_ERR_SDAPI_UNSUPPORTED', `${field}: ${message}`, { field });
}

const samplesFormats: Readonly<Record<string, OutputFormat>> = {
  png: 'png',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  webp: 'webp',
};

/** A1111 fields → a giraffe job request on the caller's model; refuses what we would get wrong. */
export async function resolveCall(
  app: FastifyInstance,
  store: A1111OptionsStore,
  owner: string | null,
  body: Txt2ImgRequest | Img2ImgRequest,
): Promise<ResolvedCall> {
  refuseUnsupported(body);
  const samplerName = body.sampler_name || body.sampler_index || A1111_DEFAULTS.sampler;
  const found = findSampler(samplerName);
  if (!found)
    unsupported('sampler_name', `"${samplerName}" is not a sampler here; GET /sdapi/v1/samplers lists them`);
  const scheduleName = body.scheduler || A1111_DEFAULTS.scheduler;
  const schedule = findScheduleType(scheduleName);
  if (!schedule)
    unsupported(
      'scheduler',
      `"${scheduleName}" is not a schedule type here; GET /sdapi/v1/schedulers lists them`,
    );
  const karras = found.karras || schedule.karras;
  if (karras && !found.sampler.karras)
    unsupported('scheduler', `the Karras schedule does not apply to ${found.sampler.name}`);

  const options = await store.get(owner);
  const overrides = body.override_settings ?? {};
  let modelId: string;
  const checkpoint = overrides.sd_model_checkpoint;
  if (typeof checkpoint === 'string' && checkpoint !== '') {
    const id = await resolveCheckpoint(app, checkpoint);
    if (!id)
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_UNKNOWN',
        `override_settings.sd_model_checkpoint: "${checkpoint}" is not served here (GET /sdapi/v1/sd-models lists them)`,
        { field: 'override_settings.sd_model_checkpoint' },
      );
    modelId = id;
  } else {
    modelId = await callerModel(app, store, owner);
  }
  const format = overrides.samples_format ?? options.samples_format ?? 'png';
  const outputFormat = typeof format === 'string' ? samplesFormats[format.toLowerCase()] : undefined;
  if (!outputFormat) unsupported('samples_format', `${JSON.stringify(format)}: use png, jpg or webp`);

  const generation: GenerateRequest = {
    prompt: body.prompt ?? '',
    negative_prompt: body.negative_prompt ?? undefined,
    width: body.width ?? A1111_DEFAULTS.width,
    height: body.height ?? A1111_DEFAULTS.height,
    steps: body.steps ?? A1111_DEFAULTS.steps,
    guidance_scale: body.cfg_scale ?? A1111_DEFAULTS.cfg_scale,
    scheduler: found.sampler.scheduler,
    karras: karras || undefined,
    // -1 (or nothing) asks for a random seed; the job picks it and reports it.
    seed: body.seed === undefined || body.seed === null || body.seed < 0 ? undefined : body.seed,
    num_images: (body.batch_size ?? 1) * (body.n_iter ?? 1),
    output_format: outputFormat,
  };
  return { modelId, sampler: found.sampler, karras, generation };
}
