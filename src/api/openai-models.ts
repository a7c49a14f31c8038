import type { Config } from '../config';
import type { CatalogModel } from './model-catalog';

/** OpenAI's `Model` object, as `GET /v1/models` lists it under `data` for OpenAI SDKs. */
export interface OpenAiModel {
  readonly id: string;
  readonly object: 'model';
  /** Unix seconds; giraffe does not know when a model was made, so 0. */
  readonly created: number;
  readonly owned_by: string;
  /** For an alias (OPENAI_MODEL_ALIASES): the model of ours it runs on. */
  readonly alias_of?: string;
}

/**
 * The model a request to the OpenAI routes runs on: the default model when it
 * names none (OpenAI SDKs may leave `model` out), the target of an alias
 * from OPENAI_MODEL_ALIASES, and otherwise the name itself — which, when it is
 * not served here (`dall-e-3` with no alias), is OpenAI's 404
 * `model_not_found`, never a silent substitute (issue 17, item 19).
 */
export function openAiModelId(requested: string | null | undefined, config: Config): string {
  if (!requested) return config.DEFAULT_MODEL;
  return Object.hasOwn(config.OPENAI_MODEL_ALIASES, requested)
    ? config.OPENAI_MODEL_ALIASES[requested]
    : requested;
}

/** The served models and the aliases of served models, as OpenAI's `models.list()` reads them. */
export function openAiModelList(models: readonly CatalogModel[], config: Config): OpenAiModel[] {
  const served = new Set(models.map((m) => m.id));
  const list: OpenAiModel[] = models.map((m) => ({
    id: m.id,
    object: 'model',
    created: 0,
    owned_by: 'giraffe',
  }));
  for (const [alias, target] of Object.entries(config.OPENAI_MODEL_ALIASES)) {
    if (served.has(target) && !served.has(alias)) {
      list.push({ id: alias, object: 'model', created: 0, owned_by: 'giraffe', alias_of: target });
    }
  }
  return list;
}
