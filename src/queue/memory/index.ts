export { createMemoryDriver, type MemoryDriverOptions } from './memory-driver';
