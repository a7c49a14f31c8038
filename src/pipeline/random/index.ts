export { NumpyRandomState } from './numpy-random-state';
