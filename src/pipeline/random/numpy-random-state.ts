// MT19937 parameters (Matsumoto & Nishimura 1998).
const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;
const MAX_SEED = 0xffffffff;

/** The whole generator state, as numpy's `get_state()` gives it: key, position, cached gaussian. */
export interface RandomStateSnapshot {
  readonly key: Uint32Array;
  readonly pos: number;
  readonly hasGauss: boolean;
  readonly cachedGaussian: number;
}

/**
 * A port of the parts of `numpy.random.RandomState` that Stable Diffusion
 * pipelines use for their initial noise, bit-for-bit: the MT19937 generator
 * seeded with `init_genrand`, 53-bit doubles, and the legacy polar
 * (Marsaglia) Gaussian sampler with its cached second value.
 *
 * `new NumpyRandomState(seed).randn(n)` gives the same values, in the same
 * order, as `np.random.RandomState(seed).randn(...)` with n elements in C order.
 */
export class NumpyRandomState {
  readonly #mt = new Uint32Array(N);
  #index = N;
  #hasGauss = false;
  #gauss = 0;

  /** @param seed - integer in 0 … 2^32 − 1, as numpy accepts for a scalar seed */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(`seed must be an integer between 0 and 2**32 - 1, got ${seed}`);
    }
    // numpy's legacy seeding of a scalar is mt19937_seed, i.e. init_genrand.
    const mt = this.#mt;
    mt[0] = seed;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1];
      mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
  }

  /** A copy of the generator's state: a checkpoint resumes the same stream of draws from it. */
  saveState(): RandomStateSnapshot {
    return { key: this.#mt.slice(), pos: this.#index, hasGauss: this.#hasGauss, cachedGaussian: this.#gauss };
  }

  /** Continues from a saved state, as numpy's `set_state()`. */
  restoreState(state: RandomStateSnapshot): void {
    if (state.key.length !== N || !Number.isInteger(state.pos) || state.pos < 0 || state.pos > N) {
      throw new RangeError('not an MT19937 state: the key must hold 624 words and the position be 0 … 624');
    }
    this.#mt.set(state.key);
    this.#index = state.pos;
    this.#hasGauss = state.hasGauss;
    this.#gauss = state.cachedGaussian;
  }

  /** Refills the state with the next 624 untempered words. */
  #twist(): void {
    const mt = this.#mt;
    let i = 0;
    for (; i < N - M; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
      mt[i] = mt[i + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; i < N - 1; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
      mt[i] = mt[i + M - N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.#index = 0;
  }

  /** Next raw 32-bit output of the generator, as an unsigned integer. */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits, as `random_sample()`. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }

  /** One standard normal draw, as numpy's legacy `gauss` (polar method, second value cached). */
  standardNormal(): number {
    if (this.#hasGauss) {
      this.#hasGauss = false;
      return this.#gauss;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.#gauss = f * x1;
    this.#hasGauss = true;
    return f * x2;
  }

  /** `count` standard normal draws in order, as `randn(*shape)` with `count` elements. */
  randn(count: number): Float64Array {
    if (!Number.isInteger(count) || count < 0)
      throw new RangeError(`count must be a non-negative integer, got ${count}`);
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = this.standardNormal();
    return out;
  }

  /** {@link randn} cast to float32, as `randn(...).astype(np.float32)`. */
  randnFloat32(count: number): Float32Array {
    return Float32Array.from(this.randn(count));
  }
}
