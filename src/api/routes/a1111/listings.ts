import * as os from 'node:os';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sdModelItem } from './checkpoints';
import { a1111Samplers, a1111ScheduleTypes } from './samplers';

const ok = <S extends z.ZodType>(schema: S, description: string) => ({
  200: { description, content: { 'application/json': { schema } } },
});

const sdModelSchema = z.object({
  title: z.string().describe('The model id; what `sd_model_checkpoint` takes.'),
  model_name: z.string(),
  hash: z.string().nullable(),
  sha256: z.string().nullable(),
  filename: z.string(),
  config: z.string().nullable(),
});
const samplerSchema = z.object({
  name: z.string(),
  aliases: z.array(z.string()),
  options: z.record(z.string(), z.unknown()),
});
const scheduleSchema = z.object({
  name: z.string(),
  label: z.string(),
  aliases: z.array(z.string()).nullable(),
  default_rho: z.number().nullable(),
  need_inner_model: z.boolean().nullable(),
});
const named = z.object({ name: z.string() }).catchall(z.unknown());
const emptyList = z.array(named).max(0);

/**
 * The read-only listings of A1111's API, each an honest answer for giraffe:
 * the models and samplers it serves, and empty lists for what it does not
 * have (upscalers, VAEs, LoRAs, embeddings, styles, scripts), so a client
 * that fills its menus from them offers only what works.
 */
export const a1111ListingRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['a1111'];

  app.get(
    '/sd-models',
    {
      schema: {
        tags,
        operationId: 'a1111SdModels',
        summary: 'Models (A1111 checkpoints)',
        response: ok(z.array(sdModelSchema), 'The served models.'),
      },
    },
    async () => (await app.giraffe.catalog.list()).map(sdModelItem),
  );

  app.post(
    '/refresh-checkpoints',
    {
      schema: {
        tags,
        operationId: 'a1111RefreshCheckpoints',
        summary: 'Refresh the model list (A1111)',
        description:
          'Nothing to do: the model list follows the workers and MODELS_DIR by itself (within a second).',
        response: ok(z.null(), 'Done.'),
      },
    },
    async () => null,
  );

  app.get(
    '/samplers',
    {
      schema: {
        tags,
        operationId: 'a1111Samplers',
        summary: 'Samplers (A1111 names of the schedulers giraffe runs)',
        response: ok(z.array(samplerSchema), 'Samplers.'),
      },
    },
    async () =>
      a1111Samplers.map((s) => ({
        name: s.name,
        aliases: [...s.aliases],
        options: s.karras ? { scheduler: 'karras' } : {},
      })),
  );

  app.get(
    '/schedulers',
    {
      schema: {
        tags,
        operationId: 'a1111Schedulers',
        summary: 'Schedule types (A1111)',
        description:
          "`automatic` (the model's own spacing; `uniform` and `normal` mean the same here) and `karras`.",
        response: ok(z.array(scheduleSchema), 'Schedule types.'),
      },
    },
    async () =>
      a1111ScheduleTypes.map((t) => ({
        name: t.name,
        label: t.label,
        aliases: [...t.aliases],
        default_rho: t.default_rho,
        need_inner_model: false,
      })),
  );

  // Lists of things giraffe has none of: empty, so clients offer nothing that would not work.
  const empty: ReadonlyArray<[string, string, string]> = [
    ['/upscalers', 'a1111Upscalers', 'Upscalers (none)'],
    ['/latent-upscale-modes', 'a1111LatentUpscaleModes', 'Latent upscale modes (none)'],
    ['/sd-vae', 'a1111SdVae', 'VAE files (none: each model uses its own VAE)'],
    ['/loras', 'a1111Loras', 'LoRAs (none)'],
    ['/hypernetworks', 'a1111Hypernetworks', 'Hypernetworks (none)'],
    ['/face-restorers', 'a1111FaceRestorers', 'Face restorers (none)'],
    ['/realesrgan-models', 'a1111RealesrganModels', 'Real-ESRGAN models (none)'],
    ['/prompt-styles', 'a1111PromptStyles', 'Prompt styles (none)'],
  ];
  for (const [url, operationId, summary] of empty) {
    app.get(
      url,
      { schema: { tags, operationId, summary, response: ok(emptyList, 'An empty list.') } },
      async () => [],
    );
  }

  app.get(
    '/embeddings',
    {
      schema: {
        tags,
        operationId: 'a1111Embeddings',
        summary: 'Textual-inversion embeddings (none)',
        response: ok(
          z.object({ loaded: z.record(z.string(), z.unknown()), skipped: z.record(z.string(), z.unknown()) }),
          'No embeddings.',
        ),
      },
    },
    async () => ({ loaded: {}, skipped: {} }),
  );

  app.get(
    '/scripts',
    {
      schema: {
        tags,
        operationId: 'a1111Scripts',
        summary: 'Scripts (none)',
        description: 'webuiapi reads this on start to see which extensions exist; there are none.',
        response: ok(z.object({ txt2img: z.array(z.string()), img2img: z.array(z.string()) }), 'No scripts.'),
      },
    },
    async () => ({ txt2img: [], img2img: [] }),
  );

  app.get(
    '/memory',
    {
      schema: {
        tags,
        operationId: 'a1111Memory',
        summary: "The API host's memory (A1111)",
        description:
          'RAM of the machine the API process runs on, in bytes. GPUs belong to the workers, not the API ' +
          'process, so `cuda` holds an `error`, as A1111 answers without CUDA.',
        response: ok(
          z.object({
            ram: z.object({ free: z.number(), used: z.number(), total: z.number() }),
            cuda: z.object({ error: z.string() }),
          }),
          'Memory.',
        ),
      },
    },
    async () => {
      const total = os.totalmem();
      const free = os.freemem();
      return {
        ram: { free, used: total - free, total },
        cuda: { error: 'no GPU in the API process: inference runs on the workers' },
      };
    },
  );

  app.get(
    '/cmd-flags',
    {
      schema: {
        tags,
        operationId: 'a1111CmdFlags',
        summary: 'Command-line flags (A1111)',
        description:
          'The few A1111 flags that describe this server: `api` and `nowebui` are true; `api_auth` says whether keys are needed (never the keys).',
        response: ok(z.record(z.string(), z.unknown()), 'Flags.'),
      },
    },
    async () => ({
      api: true,
      nowebui: true,
      api_auth: app.giraffe.keys.enabled ? '<API key as the password>' : null,
      listen: app.giraffe.config.HOST !== '127.0.0.1' && app.giraffe.config.HOST !== 'localhost',
      port: app.giraffe.config.PORT,
    }),
  );
};
