import { GiraffeError } from '../errors';
import type { CatalogModel, ModelCatalog } from './model-catalog';

/** Seconds a client should wait before trying a model again that no worker serves (a worker starting, loading). */
export const UNSERVED_RETRY_AFTER_S = 10;

/**
 * The catalogue's entry for a model a job may be queued for: one a live
 * worker serves now. A name the deployment does not know is a 400 that
 * names the models it serves; a known model no worker serves now (its
 * workers stopped, or have not started) is a 503 with Retry-After, so no
 * job waits in a queue nobody takes from.
 */
export async function servedModel(catalog: ModelCatalog, id: string): Promise<CatalogModel> {
  const models = await catalog.list();
  const served = models.filter((m) => m.served).map((m) => m.id);
  const servedList = served.length > 0 ? served.join(', ') : 'none right now';
  const model = models.find((m) => m.id === id);
  if (!model) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_UNKNOWN',
      `model: "${id}" is not a model of this deployment; models served: ${servedList} (GET /v1/models)`,
      { field: 'model', served },
    );
  }
  if (!model.served) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_UNSERVED',
      `model: no worker serves "${id}" now, so a job for it would not run; models served: ${servedList}. ` +
        `Start a worker for it (giraffe worker --model ${id}) or retry later.`,
      { field: 'model', served, retry_after_s: UNSERVED_RETRY_AFTER_S },
    );
  }
  return model;
}
