import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobRecord } from '../../../jobs';
import type { Img2ImgRequest, Txt2ImgRequest } from './generation-request';
import type { ResolvedCall } from './resolve-call';

/** giraffe's package version, for `info.version` (A1111 writes its own there); src/ and dist/ alike sit four levels below the root. */
const version = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** A1111's `job_timestamp`: local digits YYYYMMDDhhmmss of when the job started. */
function jobTimestamp(iso: string | undefined): string {
  const d = iso ? new Date(iso) : new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}` +
    `${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}`
  );
}

/**
 * The `info` of a generation answer, as A1111's `Processed.js()` writes it
 * (clients parse it as JSON: webuiapi's `WebUIApiResult.info`, open-webui
 * stores it with the image). Every image of a job comes from one seed, one
 * batch: `all_seeds` repeats it, and each image's infotext is the one its
 * PNG carries.
 */
export function processedInfo(
  job: JobRecord,
  call: ResolvedCall,
  body: Txt2ImgRequest | Img2ImgRequest,
): Record<string, unknown> {
  const r = job.request;
  const result = job.result;
  const count = result?.images.length ?? r.num_images;
  const batchSize = body.batch_size ?? 1;
  const seed = result?.seed ?? r.seed;
  const infotext = result?.parameters ?? '';
  const sha256 = result?.reproducibility?.model.sha256;
  const extra: Record<string, unknown> = {};
  if (call.karras) extra['Schedule type'] = 'Karras';
  return {
    prompt: r.prompt,
    all_prompts: Array<string>(count).fill(r.prompt),
    negative_prompt: r.negative_prompt,
    all_negative_prompts: Array<string>(count).fill(r.negative_prompt),
    seed,
    all_seeds: Array<number>(count).fill(seed),
    subseed: -1,
    all_subseeds: Array<number>(count).fill(-1),
    subseed_strength: 0,
    width: result?.width ?? r.width,
    height: result?.height ?? r.height,
    sampler_name: call.sampler.name,
    cfg_scale: r.guidance_scale,
    steps: r.steps,
    batch_size: batchSize,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: job.model,
    sd_model_hash: sha256 ? sha256.slice(0, 10) : null,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: 'init_images' in body ? (body.denoising_strength ?? 0.75) : 0,
    extra_generation_params: extra,
    index_of_first_image: 0,
    infotexts: Array<string>(count).fill(infotext),
    styles: [],
    job_timestamp: jobTimestamp(job.started_at ?? job.created_at),
    clip_skip: 1,
    is_using_inpainting_conditioning: false,
    version: `giraffe ${version}`,
    // giraffe's own: where the images and the full job record live.
    job_id: job.id,
  };
}
