import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The project's `../shared` folder (reference vocabularies and goldens made by
 * the reference implementations). It sits beside the checkout; CI lays a copy
 * there too. GIRAFFE_SHARED_DIR overrides the location.
 */
export const sharedDir =
  process.env.GIRAFFE_SHARED_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared');

/** Absolute path of a file under `../shared`. */
export function sharedPath(...parts: string[]): string {
  return path.join(sharedDir, ...parts);
}

/**
 * True when `../shared/<parts>` exists; otherwise prints why the dependent
 * tests skip — or, with GIRAFFE_REQUIRE_SHARED=1 (CI sets it), throws, so a
 * missing folder fails the run instead of quietly skipping the comparisons
 * with the reference implementations.
 */
export function hasShared(...parts: string[]): boolean {
  const p = sharedPath(...parts);
  if (fs.existsSync(p)) return true;
  if (process.env.GIRAFFE_REQUIRE_SHARED === '1') {
    throw new Error(
      `${p} is absent and GIRAFFE_REQUIRE_SHARED=1: the ../shared folder beside the checkout ` +
        '(or GIRAFFE_SHARED_DIR) must hold the goldens',
    );
  }
  console.warn(`skipping: ${p} is absent (the ../shared folder beside the checkout holds the goldens)`);
  return false;
}

/** `describe` when the shared file exists, `describe.skip` with a message otherwise. */
export function describeWithShared(parts: string[], name: string, fn: () => void): void {
  (hasShared(...parts) ? describe : describe.skip)(name, fn);
}

/** Reads and parses a JSON golden from `../shared`. */
export function readSharedJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(fs.readFileSync(sharedPath(...parts), 'utf8')) as T;
}
