export {
  writeDemoModel,
  ensureDemoModel,
  DEMO_MODEL_VERSION,
  DEMO_MARKER_FILE,
  DEMO_MODEL_IDS,
  type DemoVariant,
} from './demo-model';
export {
  writeFixtureModel,
  fixtureVariants,
  type FixtureOptions,
  type FixtureVariant,
} from './fixture-model';
export { writeDemoTokenizer, demoVocabulary, type DemoVocabulary } from './demo-vocabulary';
export {
  OnnxGraphBuilder,
  float,
  floats,
  tensor,
  toFloat16,
  fromFloat16,
  float32ToFloat16Bits,
  float16BitsToNumber,
  type AttributeValue,
  type Dim,
  type DType,
  type GraphBuilderOptions,
  type SaveOptions,
  type TensorData,
} from './onnx';
