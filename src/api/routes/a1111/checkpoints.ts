import type { FastifyInstance } from 'fastify';
import type { CatalogModel } from '../../model-catalog';
import type { A1111OptionsStore } from './options-store';

/** A model as `GET /sdapi/v1/sd-models` lists it (A1111's `SDModelItem`). */
export interface SdModelItem {
  readonly title: string;
  readonly model_name: string;
  readonly hash: string | null;
  readonly sha256: string | null;
  readonly filename: string;
  readonly config: string | null;
}

/**
 * A1111 titles are `file.safetensors [hash]`; ours are the model id, which
 * is what every other giraffe route takes. No hash: the API process does not
 * read model files (the worker fingerprints them when it runs a job).
 */
export function sdModelItem(model: CatalogModel): SdModelItem {
  return {
    title: model.id,
    model_name: model.id,
    hash: null,
    sha256: null,
    filename: model.id,
    config: null,
  };
}

/**
 * The model id an A1111 checkpoint name means: the id itself, or a title
 * with A1111's ` [hash]` suffix or a file extension (what a client that
 * remembered an A1111 checkpoint sends), matched without regard to case as
 * clients lower-case names (webuiapi's `util_set_model`).
 */
export async function resolveCheckpoint(app: FastifyInstance, name: string): Promise<string | undefined> {
  const models = await app.giraffe.catalog.list();
  const wanted = name
    .trim()
    .replace(/\s*\[[0-9a-f]{8,64}\]$/i, '')
    .toLowerCase();
  const exact = models.find((m) => m.id === name.trim());
  if (exact) return exact.id;
  const candidates = [wanted, wanted.replace(/\.(safetensors|ckpt|onnx)$/, '')];
  return models.find((m) => candidates.includes(m.id.toLowerCase()))?.id;
}

/**
 * The model a caller's jobs run on: the checkpoint its options name (set by
 * `POST /sdapi/v1/options`), while that model is still served, else DEFAULT_MODEL.
 */
export async function callerModel(
  app: FastifyInstance,
  store: A1111OptionsStore,
  owner: string | null,
): Promise<string> {
  const chosen = (await store.get(owner)).sd_model_checkpoint;
  if (typeof chosen === 'string') {
    const id = await resolveCheckpoint(app, chosen);
    if (id) return id;
  }
  return app.giraffe.config.DEFAULT_MODEL;
}
