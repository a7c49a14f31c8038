export { checkpointKey, type DenoiseCheckpoint } from './denoise-checkpoint';
export { decodeCheckpoint, encodeCheckpoint } from './checkpoint-codec';
export { CheckpointTaker, type CheckpointOptions } from './checkpoint-taker';
