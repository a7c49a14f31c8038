export {
  OnnxGraphBuilder,
  float,
  floats,
  tensor,
  type AttributeValue,
  type Dim,
  type FloatAttribute,
  type FloatsAttribute,
  type GraphBuilderOptions,
  type SaveOptions,
  type TensorAttribute,
  type TensorData,
} from './graph-builder';
export { float32ToFloat16Bits, float16BitsToNumber, toFloat16, fromFloat16 } from '../../model/float16';
export { onnxTypes, TensorDataType, type DType } from './onnx-proto';
