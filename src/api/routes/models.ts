import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { openAiModelList } from '../openai-models';
import { commonProblems, jsonResponse, modelListSchema, problemResponses } from '../schemas';

/** `GET /v1/models`: the models this deployment serves, with their defaults and schedulers. */
export const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['models'],
        operationId: 'listModels',
        summary: 'List the models',
        description:
          'Models the workers serve now (`served: true`; `loaded` says whether one has it in memory), and model ' +
          'directories on disk or built-in models that no live worker serves (`served: false`, `workers: 0`; a job ' +
          'for one is refused with 503). Each lists its request defaults, schedulers and the modes it supports ' +
          '(text-to-image, image-to-image, inpainting), with the reason for each it does not. ' +
          "`object` and `data` repeat the list in OpenAI's shape (with the OPENAI_MODEL_ALIASES) for OpenAI SDKs.",
        response: {
          200: jsonResponse(modelListSchema, 'The models and the default one.'),
          ...problemResponses(...commonProblems),
        },
      },
    },
    async () => {
      const models = await app.giraffe.catalog.list();
      return {
        // Plain copies: the catalogue's readonly interfaces, as the (loose) response schema's type.
        models: models.map(({ modes, ...m }) => ({
          ...m,
          ...(modes
            ? {
                modes: [...modes.modes],
                modes_unsupported: { ...modes.unsupported },
                unet_in_channels: modes.unet_in_channels,
              }
            : {}),
          defaults: { ...m.defaults },
          schedulers: [...m.schedulers],
          device: m.device ? [...m.device] : undefined,
        })),
        default: app.giraffe.config.DEFAULT_MODEL,
        // OpenAI's list shape beside ours, so an OpenAI SDK's models.list() sees the served models.
        object: 'list' as const,
        data: openAiModelList(models, app.giraffe.config).map((m) => ({ ...m })),
      };
    },
  );
};
