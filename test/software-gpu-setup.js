'use strict';
// Points Vulkan at SwiftShader (the software driver in Debian's chromium package) for the whole
// test run, so the webgpu tests have an adapter without a GPU. Only here, before any test starts:
// Dawn reads these variables from the real process environment, which a test file cannot change
// (jest gives it a copy of process.env), and the test workers inherit them. giraffe itself never
// falls back to a software GPU. A developer's own VK_ICD_FILENAMES (a real GPU) is left alone.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const icd = process.env.GIRAFFE_SWIFTSHADER_ICD || '/usr/lib/chromium/vk_swiftshader_icd.json';

module.exports = function useSoftwareGpu() {
  if (!fs.existsSync(icd)) return;
  if (!process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = icd;
  // Dawn's Vulkan backend wants a runtime directory; CI runners may have none.
  if (!process.env.XDG_RUNTIME_DIR || !fs.existsSync(process.env.XDG_RUNTIME_DIR)) {
    process.env.XDG_RUNTIME_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-xdg-'));
  }
};
