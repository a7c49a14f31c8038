import { z } from 'zod';
import { generateRequestSchema, type ResolvedRequest } from '../pipeline';

/** Model ids are directory names under MODELS_DIR (or `demo`): no paths. */
export const modelIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a model name: letters, digits, ".", "_" and "-"');

/**
 * A generation job as clients submit it: the pipeline's request plus the
 * model to run it on. Shared by the API (validation at the edge) and the
 * worker (which trusts nothing it reads back from the queue).
 */
export const jobRequestSchema = generateRequestSchema.extend({
  model: modelIdSchema.optional(),
});
export type JobRequest = z.input<typeof jobRequestSchema>;

/** What a queued job carries: the request with every default filled in and the seed fixed. */
export type ResolvedJobRequest = ResolvedRequest;
