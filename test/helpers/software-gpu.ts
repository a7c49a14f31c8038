import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * SwiftShader, the software Vulkan driver Debian's `chromium` package ships:
 * how CI runs the webgpu path without a GPU. Only tests point Vulkan at it
 * (test/software-gpu-setup.js, before the run: Dawn reads the real process
 * environment, which a test file cannot change); giraffe itself never falls
 * back to a software GPU. `.ci/run` installs chromium and the Vulkan loader
 * (`libvulkan1`). GIRAFFE_SWIFTSHADER_ICD overrides the manifest's location.
 */
export const swiftshaderIcd =
  process.env.GIRAFFE_SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';

/** True when the run has a Vulkan driver for webgpu; otherwise prints why the webgpu tests skip. */
export function hasSoftwareGpu(): boolean {
  if (process.env.VK_ICD_FILENAMES && fs.existsSync(process.env.VK_ICD_FILENAMES)) return true;
  console.warn(
    `skipping the webgpu tests: no Vulkan driver manifest (${swiftshaderIcd} is absent: apt-get install chromium libvulkan1)`,
  );
  return false;
}

let runtimeDir: string | undefined;

/** The variables that make Vulkan (and so Dawn) use SwiftShader, for child processes. */
export function softwareGpuEnv(): Record<string, string> {
  runtimeDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-xdg-'));
  return {
    VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? swiftshaderIcd,
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? runtimeDir,
  };
}

/** `describe` when the run has a Vulkan driver, `describe.skip` with a message otherwise. */
export function describeOnSoftwareGpu(name: string, fn: () => void): void {
  (hasSoftwareGpu() ? describe : describe.skip)(name, fn);
}
