import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError } from '../../../errors';
import { callerModel, resolveCheckpoint } from './checkpoints';
import type { A1111OptionsStore } from './options-store';

/** Options of {@link a1111OptionsRoutes}. */
export interface A1111OptionsRoutesOptions {
  readonly store: A1111OptionsStore;
}

/**
 * What `GET /sdapi/v1/options` shows before a caller sets anything: the
 * options clients read, with the values giraffe actually works with.
 */
const defaults: Readonly<Record<string, unknown>> = {
  sd_checkpoint_hash: null,
  sd_vae: 'Automatic',
  CLIP_stop_at_last_layers: 1,
  samples_format: 'png',
  grid_format: 'png',
  live_previews_enable: true,
  live_previews_image_format: 'png',
  show_progress_every_n_steps: 1,
  eta_ddim: 0,
  eta_ancestral: 1,
};

/** Most options one caller may keep, so a client cannot grow a key's record without end. */
const MAX_OPTIONS = 500;

const optionsSchema = z.record(z.string().max(200), z.unknown()).meta({
  id: 'A1111Options',
  description:
    "AUTOMATIC1111's options: `sd_model_checkpoint` is the caller's default model, `samples_format` " +
    '(`png`, `jpg`, `webp`) its file format; every other option is kept and echoed but changes nothing.',
});

function refuse(field: string, message: string): never {
  throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${field}: ${message}`, { field });
}

/** `GET` and `POST /sdapi/v1/options`, one set of options per API key. */
export const a1111OptionsRoutes: FastifyPluginAsyncZod<A1111OptionsRoutesOptions> = async (app, opts) => {
  const { store } = opts;

  app.get(
    '/options',
    {
      schema: {
        tags: ['a1111'],
        operationId: 'a1111GetOptions',
        summary: "The caller's options (A1111)",
        description:
          "`sd_model_checkpoint` is the model the caller's jobs run on (DEFAULT_MODEL until it sets one); " +
          'options it set are echoed as set.',
        response: {
          200: { description: 'Options.', content: { 'application/json': { schema: optionsSchema } } },
        },
      },
    },
    async (request) => {
      const stored = await store.get(request.owner);
      return {
        ...defaults,
        ...stored,
        sd_model_checkpoint: await callerModel(app, store, request.owner),
      };
    },
  );

  app.post(
    '/options',
    {
      schema: {
        tags: ['a1111'],
        operationId: 'a1111SetOptions',
        summary: "Set the caller's options (A1111)",
        description:
          '`sd_model_checkpoint` must name a served model (`GET /sdapi/v1/sd-models`); `samples_format` must be ' +
          '`png`, `jpg` or `webp`. Other options are stored as given. A client may post back everything ' +
          '`GET` returned. Answers `null`, as A1111 does.',
        body: optionsSchema,
        response: { 200: { description: 'Stored.', content: { 'application/json': { schema: z.null() } } } },
      },
    },
    async (request) => {
      const changes: Record<string, unknown> = { ...request.body };
      const checkpoint = changes.sd_model_checkpoint;
      if (checkpoint !== undefined) {
        const id = typeof checkpoint === 'string' ? await resolveCheckpoint(app, checkpoint) : undefined;
        // A1111 refuses an unknown checkpoint too ("model … not found").
        if (!id)
          throw new GiraffeError(
            'GIRAFFE_ERR_MODEL_UNKNOWN',
            `sd_model_checkpoint: model ${JSON.stringify(checkpoint)} not found (GET /sdapi/v1/sd-models lists them)`,
            { field: 'sd_model_checkpoint' },
          );
        changes.sd_model_checkpoint = id;
      }
      const format = changes.samples_format;
      if (format !== undefined && !(typeof format === 'string' && /^(png|jpe?g|webp)$/i.test(format)))
        refuse('samples_format', 'must be png, jpg or webp');
      const stored = await store.get(request.owner);
      if (Object.keys({ ...stored, ...changes }).length > MAX_OPTIONS)
        refuse('(options)', `at most ${MAX_OPTIONS} options per API key`);
      await store.merge(request.owner, changes);
      return null;
    },
  );
};
