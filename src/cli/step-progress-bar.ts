import { SingleBar, Presets } from 'cli-progress';

/**
 * The denoising progress bar both `giraffe generate` paths show on stderr:
 * it starts on the first step it hears of (the total is the U-Net calls the
 * scheduler makes) and prints every 2 s when stderr is not a terminal.
 */
export class StepProgressBar {
  readonly #bar = new SingleBar(
    {
      format: 'denoising |{bar}| {value}/{total} steps | eta {eta_formatted}',
      noTTYOutput: true,
      notTTYSchedule: 2000,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  #started = false;

  update(step: number, steps: number): void {
    if (!this.#started) this.#bar.start(steps, 0);
    this.#started = true;
    this.#bar.update(step);
  }

  stop(): void {
    if (this.#started) this.#bar.stop();
  }
}
