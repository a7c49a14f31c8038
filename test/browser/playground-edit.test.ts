import * as fs from 'node:fs';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { describeWithShared, sharedPath } from '../helpers/shared';

// The playground's edit panel in Debian's Chromium (playwright-core): pick an
// image, paint the area to repaint with the brush and erase part of it, set
// the strength, and get the edited image back from a real worker running
// diffusers' tiny 9-channel inpainting export. The mask the server stored is
// checked against where the mouse painted and erased.
const CHROMIUM = '/usr/bin/chromium';
const e2e2 = (...parts: string[]): string => sharedPath('goldens', 'e2e2', ...parts);

describeWithShared(['goldens', 'e2e2', 'inpaint-diffusers'], 'playground image editing', () => {
  let browser: Browser;
  let service: DemoService;
  let base: string;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`the browser tests need Chromium at ${CHROMIUM}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    service = await startDemoService({ models: { inpaint: e2e2('inpaint-diffusers') } });
    base = await service.app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  /** Drags the mouse across the mask canvas, from and to fractions of its size. */
  async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
    const box = (await page.locator('#mask-canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width * from[0], box.y + box.height * from[1]);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * to[0], box.y + box.height * to[1], { steps: 12 });
    await page.mouse.up();
  }

  it('paints a mask with the brush, erases part of it, and gets an edited image back', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
    page.on('console', (msg) => {
      if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`csp: ${msg.text()}`);
    });
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.selectOption('#model', 'inpaint');
    await page.fill('#prompt', 'a lighthouse on a cliff');
    await page.fill('#steps', '3');
    await page.fill('#seed', '42');
    await page.setInputFiles('#edit-image', {
      name: 'init.png',
      mimeType: 'image/png',
      buffer: fs.readFileSync(e2e2('refs', 'init_256x256.png')),
    });
    await page.waitForSelector('#edit-stage:not([hidden])');
    // The job takes the picture's size.
    expect(await page.inputValue('#width')).toBe('256');

    // A thick horizontal stroke across the middle, then the erase brush over its right end.
    await page.fill('#brush-size', '60');
    await drag(page, [0.2, 0.5], [0.8, 0.5]);
    expect(await page.getAttribute('#mask-canvas', 'data-painted')).toBe('true');
    await page.check('#brush-erase');
    await drag(page, [0.7, 0.3], [0.7, 0.7]);
    await page.fill('#strength', '0.9');
    expect(await page.textContent('#strength-value')).toBe('0.90');

    await page.click('#generate');
    // The gallery item, or the page's error message when the job fails (then shown by the assertion).
    await page.waitForSelector('#gallery > li, #error:not([hidden])', { timeout: 240_000 });
    expect(await page.locator('#error:not([hidden])').count()).toBe(0);
    const item = page.locator('#gallery > li').first();
    const jobId = (await item.getAttribute('data-job-id'))!;
    const job = (await service.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}` })).json();
    expect(job.status).toBe('succeeded');
    expect(job.request).toMatchObject({ strength: 0.9, width: 256, height: 256 });
    expect(job.request.mask_image).toMatchObject({ width: 256, height: 256 });

    // The mask the server got: white along the stroke, black where erased and far from it.
    const stored = await service.driver.results.getInput(jobId, 'mask_image');
    const { data, info } = await sharp(stored!.data).greyscale().raw().toBuffer({ resolveWithObject: true });
    const at = (fx: number, fy: number): number =>
      data[Math.round(fy * (info.height - 1)) * info.width + Math.round(fx * (info.width - 1))];
    expect([at(0.3, 0.5), at(0.5, 0.5)]).toEqual([255, 255]);
    expect([at(0.7, 0.5), at(0.5, 0.1), at(0.05, 0.9)]).toEqual([0, 0, 0]);

    // The edited image came back into the gallery, at the picture's size.
    await page.waitForFunction(`document.querySelector('#gallery img')?.naturalWidth > 0`);
    const size = await page.evaluate(
      `(() => { const img = document.querySelector('#gallery img'); return [img.naturalWidth, img.naturalHeight]; })()`,
    );
    expect(size).toEqual([256, 256]);
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);
});
