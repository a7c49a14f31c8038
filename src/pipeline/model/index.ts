export { loadModel, type LoadedModel } from './load-model';
export {
  readModelDirectory,
  inspectModelDirectory,
  type ModelDirectory,
  type ModelDirectoryInspection,
  componentNames,
  type ComponentName,
} from './model-directory';
export {
  inspectModelContract,
  isInpaintingUnet,
  type ModelContract,
  type ContractInspection,
  type VaeEncoderContract,
} from './model-contract';
export {
  modelModes,
  modelModesFromDirectory,
  checkModelMode,
  type ModelModes,
  type ModeSupport,
} from './model-modes';
export {
  OnnxComponent,
  type SessionSettings,
  type TensorSignature,
  type ElementType,
} from './onnx-component';
export { toFloat16, fromFloat16, float32ToFloat16Bits, float16BitsToNumber } from './float16';
export { assertDeviceAvailable, parseDevice, type Device } from './execution-device';
