import { onnxTypes } from '../pipeline/demo/onnx';
import type { ModelMessage } from '../pipeline/demo/onnx/onnx-proto';
import { GiraffeError } from '../errors';

/**
 * The external data files an ONNX graph's tensors point at (the `location`
 * of each initializer, or Constant node tensor, stored outside the graph),
 * relative to the graph's directory, whatever they are called:
 * `model.onnx_data`, `weights.pb`, one file per tensor, or anything else.
 */
export function externalDataLocations(graph: Uint8Array, file: string): string[] {
  let model: ModelMessage;
  try {
    model = onnxTypes.ModelProto.decode(graph) as unknown as ModelMessage;
  } catch (err) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      `${file}: not an ONNX graph (${(err as Error).message})`,
      { file },
      { cause: err },
    );
  }
  const tensors = [
    ...(model.graph?.initializer ?? []),
    ...(model.graph?.node ?? []).flatMap((n) => (n.attribute ?? []).flatMap((a) => (a.t ? [a.t] : []))),
  ];
  const locations = new Set<string>();
  for (const t of tensors) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  }
  for (const location of locations) {
    // A location is a path relative to the graph; one that climbs out of the export is refused.
    if (location.startsWith('/') || location.split(/[\\/]/).includes('..')) {
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_NOT_A_PIPELINE',
        `${file}: external data location "${location}" lies outside the model's directory`,
        { file, location },
      );
    }
  }
  return [...locations].sort();
}
