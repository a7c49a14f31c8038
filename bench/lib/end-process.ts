/**
 * Ends a bench process with `code` once its figures are out: open Redis
 * connections and timers of the libraries it measured must not keep it alive.
 */
export function endProcess(code: number): never {
  return Reflect.apply(process.exit, process, [code]) as never;
}
