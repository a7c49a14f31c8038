import { ensureDemoModel } from '../pipeline/demo';

/**
 * The models giraffe writes itself (no download), by id: each entry makes
 * (or finds, when current) the model's directory under DATA_DIR and returns
 * it. Embedded mode serves all of them beside MODELS_DIR; a model in
 * MODELS_DIR with the same name is shadowed. Adding a built-in model is one
 * line here.
 */
export const builtInModels: Readonly<Record<string, (dataDir: string) => Promise<string>>> = {
  demo: ensureDemoModel,
  // The demo's 9-channel inpainting twin: inpainting works on a fresh start.
  'demo-inpaint': (dataDir) => ensureDemoModel(dataDir, { variant: 'inpaint' }),
};

export function isBuiltInModel(id: string): boolean {
  return Object.hasOwn(builtInModels, id);
}

export function builtInModelIds(): string[] {
  return Object.keys(builtInModels);
}

/** Every built-in model, id → directory, generated first where missing (milliseconds each). */
export async function ensureBuiltInModels(dataDir: string): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(builtInModels).map(async ([id, ensure]) => [id, await ensure(dataDir)] as const),
  );
  return Object.fromEntries(entries);
}
