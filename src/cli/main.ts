import { ConfigError, loadConfig, type Config } from '../config';
import { GiraffeError } from '../errors';

type Command = (argv: string[], config: Config) => Promise<number>;

// Each command's module is loaded when it runs, so that `giraffe serve` as an API
// replica (REDIS_URL set) never loads onnxruntime, which generate and worker need.
/* eslint-disable @typescript-eslint/no-require-imports -- lazy loads, on purpose */
const generate = () => require('./generate-command') as typeof import('./generate-command');
const commands: Readonly<Record<string, () => Command>> = {
  generate: () => generate().generateCommand,
  serve: () => (require('./serve-command') as typeof import('./serve-command')).serveCommand,
  worker: () => (require('./worker-command') as typeof import('./worker-command')).workerCommand,
  models: () => (require('./models-command') as typeof import('./models-command')).modelsCommand,
  devices: () => (require('./devices-command') as typeof import('./devices-command')).devicesCommand,
};
/* eslint-enable @typescript-eslint/no-require-imports */

const usage = () => `giraffe — self-hosted text-to-image on Stable Diffusion ONNX models

Usage: giraffe <command> [options]

Commands:
  serve               the HTTP API (and, without REDIS_URL, its own worker)
  worker              a worker taking jobs from Redis (one per GPU)
  generate "PROMPT"   make an image on this machine, no server
  models …            list | pull | verify | rm the models in MODELS_DIR
  devices             what cpu, webgpu and cuda see here; --model: does it run there
  (each takes --help)

${generate().generateUsage}`;

/** CLI entry: returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const config = loadConfig();
    const run = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
    if (run) return await run()(rest, config);
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(usage());
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`giraffe: unknown command "${command}"\n\n${usage()}`);
        return 2;
    }
  } catch (err) {
    if (
      err instanceof ConfigError ||
      (err instanceof GiraffeError && err.code === 'GIRAFFE_ERR_CONFIG_INVALID')
    ) {
      process.stderr.write(`${err.message}\n`);
      return 78; // EX_CONFIG
    }
    if (err instanceof GiraffeError) {
      process.stderr.write(`giraffe: ${err.message} [${err.code}]\n`);
      return err.code === 'GIRAFFE_ERR_GENERATION_CANCELED' ? 130 : 1;
    }
    if (
      err instanceof TypeError &&
      'code' in err &&
      String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`giraffe: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
