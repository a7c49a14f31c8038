export { NumpyRandomState, type RandomStateSnapshot } from './numpy-random-state';
