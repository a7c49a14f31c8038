import { ConfigError, loadConfig } from '../config';
import { GiraffeError } from '../errors';
import { devicesCommand } from './devices-command';
import { generateCommand, generateUsage } from './generate-command';
import { modelsCommand } from './models-command';
import { serveCommand } from './serve-command';
import { workerCommand } from './worker-command';

const usage = `giraffe — self-hosted text-to-image on Stable Diffusion ONNX models

Usage: giraffe <command> [options]

Commands:
  serve               the HTTP API (and, without REDIS_URL, its own worker)
  worker              a worker taking jobs from Redis (one per GPU)
  generate "PROMPT"   make an image on this machine, no server
  models …            list | pull | verify | rm the models in MODELS_DIR
  devices             what cpu, webgpu and cuda see here; --model: does it run there
  (each takes --help)

${generateUsage}`;

/** CLI entry: returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const config = loadConfig();
    switch (command) {
      case 'generate':
        return await generateCommand(rest, config);
      case 'serve':
        return await serveCommand(rest, config);
      case 'worker':
        return await workerCommand(rest, config);
      case 'models':
        return await modelsCommand(rest, config);
      case 'devices':
        return await devicesCommand(rest, config);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(usage);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`giraffe: unknown command "${command}"\n\n${usage}`);
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
