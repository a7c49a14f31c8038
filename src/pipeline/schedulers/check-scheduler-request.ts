import { isGiraffeError } from '../../errors';
import { createScheduler } from './create-scheduler';

/**
 * Refuses what scheduler `name`, configured from a model's
 * `scheduler_config.json`, would refuse to run: `karras` where it has no
 * Karras sigmas (ddim, pndm, lcm), a step count past its own limit (lcm: the
 * config's `original_inference_steps`; the others: `num_train_timesteps`).
 * It asks the scheduler itself — creates it and sets its timesteps, as the
 * pipeline does before the first step — so the API can answer 400 at submit
 * with the same reason a worker would give later, and no second list of
 * limits exists to drift.
 *
 * A config the scheduler cannot use at all is the model's fault, not the
 * request's: that is left for the worker to report on the job.
 *
 * @throws GiraffeError `GIRAFFE_ERR_REQUEST_INVALID`, naming the scheduler and the reason.
 */
export function checkSchedulerRequest(
  name: string,
  config: Readonly<Record<string, unknown>>,
  request: { readonly steps: number; readonly karras?: boolean },
): void {
  try {
    createScheduler(name, config, request.karras ? { karras: true } : {}).setTimesteps(request.steps);
  } catch (err) {
    if (isGiraffeError(err) && err.code === 'GIRAFFE_ERR_REQUEST_INVALID') throw err;
  }
}
