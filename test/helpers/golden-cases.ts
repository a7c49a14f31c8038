import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GenerateRequest } from '../../src/pipeline';
import { compareRgb, decodeRgb } from './images';
import { readSharedJson, sharedPath } from './shared';

/** One row of `../shared/goldens/e2e2/cases.json` (the fields the tests read). */
export interface E2e2Case {
  readonly name: string;
  readonly kind: string;
  readonly model: string;
  readonly prompt: string;
  readonly negative_prompt: string | null;
  readonly seed: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly scheduler: 'pndm' | 'ddim' | 'euler' | 'euler_a' | 'dpmpp_2m' | 'lcm';
  readonly karras: boolean;
  readonly width: number;
  readonly height: number;
  readonly png: string;
  readonly unet_timesteps: readonly number[];
  /** Image-to-image and inpainting: the input files (under e2e2/) and the strength. */
  readonly strength?: number;
  readonly image?: string;
  readonly mask_image?: string;
}

/** The e2e2 cases of one kind (`sdxl`, `img2img`, …). */
export function e2e2Cases(kind: string): E2e2Case[] {
  return readSharedJson<E2e2Case[]>('goldens', 'e2e2', 'cases.json').filter((c) => c.kind === kind);
}

/** Where a case's model lies. */
export function e2e2ModelDir(c: E2e2Case): string {
  return sharedPath('goldens', 'e2e2', c.model);
}

/** The request that reproduces a case, as `generate()` and `POST /v1/generate` take it. */
export function e2e2Request(c: E2e2Case): GenerateRequest {
  return {
    prompt: c.prompt,
    negative_prompt: c.negative_prompt,
    seed: c.seed,
    steps: c.steps,
    guidance_scale: c.guidance_scale,
    scheduler: c.scheduler,
    karras: c.karras,
    width: c.width,
    height: c.height,
    output_format: 'png' as const,
  };
}

/** An edit case's inputs as `generate()` takes them: image and mask bytes, and the strength diffusers used. */
export function e2e2EditInputs(c: E2e2Case): Pick<GenerateRequest, 'image' | 'mask_image' | 'strength'> {
  const file = (name: string) => fs.readFileSync(sharedPath('goldens', 'e2e2', name));
  return {
    ...(c.image ? { image: file(c.image) } : {}),
    ...(c.mask_image ? { mask_image: file(c.mask_image) } : {}),
    ...(c.kind === 'img2img' ? { strength: c.strength } : c.kind === 'inpaint' ? { strength: 1 } : {}),
  };
}

/**
 * How an image differs from a case's reference. A correct port stays within
 * 2/255 on at least 98 % of values; the usual port bugs move about half.
 */
export async function compareWithReference(
  image: Buffer,
  c: E2e2Case,
): Promise<{ size: [number, number]; refSize: [number, number]; maxDiff: number; fractionOver: number }> {
  const ours = await decodeRgb(image);
  const ref = await decodeRgb(path.join(sharedPath('goldens', 'e2e2'), c.png));
  const diff = compareRgb(ours.data, ref.data, 2);
  return {
    size: [ours.width, ours.height],
    refSize: [ref.width, ref.height],
    maxDiff: diff.maxDiff,
    fractionOver: diff.fractionOver,
  };
}
