import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import sharp from 'sharp';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';

// The playground page in a real browser (Debian's Chromium, driven by
// playwright-core) against the real service on the demo model: previews drawn
// from the WebSocket stream, the gallery, seed reuse, cancel, a dropped
// socket resumed with ?after=, API errors in words, and the API-key prompt.
// The main server runs on Redis (BullMQ): in embedded mode the demo's fast
// steps leave the shared thread too busy for more than a couple of previews
// under jest (see test/api/job-streams.test.ts), and this test counts them.
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(__dirname, '..', '..', 'test-output', 'playground');
const KEY = 'playground-key-0123456789';
const prefix = testPrefix('playground');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-playground-'));

let browser: Browser;
let open: DemoService;
let openBase: string;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does)`,
    );
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  // A second model whose steps take 200 ms, so a job runs long enough to be cut off and canceled.
  const slowDir = path.join(tmp, 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 200);
  open = await startDemoService({ env: { REDIS_URL, REDIS_PREFIX: prefix }, models: { slow: slowDir } });
  openBase = await open.app.listen({ port: 0, host: '127.0.0.1' });
  // One job end to end first: jest compiles the modules a job touches on first use, which would
  // stall the first job for a moment and make its previews come in one burst.
  await open.app.inject({
    method: 'POST',
    url: '/v1/generate?wait=true',
    payload: { prompt: 'warm up', steps: 2 },
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await open?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh tab (own sessionStorage) that fails the test on any uncaught error or CSP violation in the page. */
async function newPage(
  viewport = { width: 1100, height: 900 },
): Promise<{ page: Page; context: BrowserContext; problems: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`csp: ${msg.text()}`);
  });
  return { page, context, problems };
}

async function load(page: Page, base: string): Promise<void> {
  await page.goto(base + '/');
  await page.waitForSelector('body[data-ready="true"]');
}

async function fillForm(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(fields)) await page.fill(`#${id}`, value);
}

/**
 * Retries an assertion until it holds or `timeoutMs` passes (then throws its
 * last failure): the page changes on its own, as events arrive.
 */
async function eventually(assertion: () => Promise<void> | void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const text = async (page: Page, selector: string): Promise<string> =>
  (await page.locator(selector).textContent()) ?? '';
const visible = (page: Page, selector: string): Promise<boolean> => page.locator(selector).isVisible();
const previewCount = async (page: Page): Promise<number> =>
  Number(await page.getAttribute('#preview', 'data-preview-count'));
const galleryItems = (page: Page) => page.locator('#gallery > li');

// Code that runs in the page is written as strings: the tests compile without the DOM's types.

/** Records the canvas as a data URL each time the page says it drew a preview. */
const recordPreviews = `(() => {
  const canvas = document.getElementById('preview');
  window.previews = [];
  new MutationObserver(() => {
    if (canvas.dataset.previewCount !== '0') window.previews.push(canvas.toDataURL());
  }).observe(canvas, { attributes: true, attributeFilter: ['data-preview-count'] });
})()`;

/** The RGBA pixels of each gallery image as the browser decoded them, in base64. */
const galleryPixels = `[...document.querySelectorAll('#gallery img')].map((img) => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let text = '';
  for (let i = 0; i < data.length; i += 8192) text += String.fromCharCode(...data.subarray(i, i + 8192));
  return btoa(text);
})`;

describe('the playground page', () => {
  it('is served without a key, with a strict Content-Security-Policy, and labels every control', async () => {
    const response = await fetch(openBase + '/');
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).not.toContain('unsafe');

    const { page, context, problems } = await newPage();
    await load(page, openBase);
    const unlabeled = await page.evaluate<string[]>(
      `[...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.labels === null || el.labels.length === 0)
        .map((el) => el.id)`,
    );
    expect(unlabeled).toEqual([]);
    // Defaults and schedulers come from GET /v1/models.
    expect(await page.inputValue('#width')).toBe('512');
    expect(await page.inputValue('#steps')).toBe('20');
    expect(await page.locator('#scheduler option').allTextContents()).toEqual(
      expect.arrayContaining(["the model's default (pndm)", 'euler_a', 'dpmpp_2m']),
    );
    expect(problems).toEqual([]);
    await context.close();
  });

  it('draws the image forming, shows it in the gallery, and reuses its seed', async () => {
    const { page, context, problems } = await newPage();
    await load(page, openBase);
    await fillForm(page, {
      prompt: 'a giraffe eating a building',
      width: '512',
      height: '512',
      steps: '100',
    });
    await page.selectOption('#scheduler', 'euler_a');
    await page.evaluate(recordPreviews);
    // Keyboard only: focus the button and press Enter.
    await page.focus('#generate');
    await page.keyboard.press('Enter');
    // A picture of the image forming (docs/playground.png comes from it); the job may be done by the time it is taken.
    await eventually(async () => expect(await previewCount(page)).toBeGreaterThanOrEqual(2), 30_000);
    await page.screenshot({ path: path.join(SHOTS, 'mid-generation.png') });

    await galleryItems(page).first().waitFor({ timeout: 30_000 });
    await eventually(async () => expect(await text(page, '#status')).toMatch(/^Done in .* \(seed \d+\)\.$/));
    const previews = await page.evaluate<string[]>('window.previews');
    expect(new Set(previews).size).toBeGreaterThanOrEqual(3);
    expect(await previewCount(page)).toBe(previews.length);
    expect(await page.getAttribute('#progress', 'value')).toBe('100');
    await page.screenshot({ path: path.join(SHOTS, 'finished.png'), fullPage: true });

    const first = galleryItems(page).first();
    const seed = await first.getAttribute('data-seed');
    expect(seed).toMatch(/^\d+$/);
    expect(await first.locator('.params').textContent()).toBe(
      `512×512, 100 steps, euler_a, guidance 7.5, seed ${seed}, model demo`,
    );
    expect(await first.locator('.prompt').textContent()).toBe('a giraffe eating a building');
    expect(await first.locator('img').getAttribute('alt')).toBe('a giraffe eating a building');
    // The gallery shows the picture the API serves for the job, pixel for pixel.
    const jobId = await first.getAttribute('data-job-id');
    const served = Buffer.from(await (await fetch(`${openBase}/v1/jobs/${jobId}/images/0`)).arrayBuffer());
    const servedRgba = await sharp(served).ensureAlpha().raw().toBuffer();
    const [shown] = await page.evaluate<string[]>(galleryPixels);
    expect(Buffer.from(shown, 'base64').equals(servedRgba)).toBe(true);

    // Reuse the seed by clicking: the same settings and seed make the same picture.
    await page.fill('#seed', '');
    await first.locator('button.reuse-seed').click();
    expect(await page.inputValue('#seed')).toBe(seed);
    await page.click('#generate');
    await eventually(async () => expect(await galleryItems(page).count()).toBe(2), 30_000);
    expect(await galleryItems(page).first().getAttribute('data-seed')).toBe(seed);
    const [newer, older] = await page.evaluate<string[]>(galleryPixels);
    expect(Buffer.from(newer, 'base64')).toHaveLength(512 * 512 * 4);
    expect(newer === older).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it('resumes a dropped stream with ?after=, shows progress and ETA, and cancels a job', async () => {
    const { page, context, problems } = await newPage();
    // The server side of every stream socket, to cut one as a network failure would.
    const upgrades: { url: string; socket: Duplex }[] = [];
    const onUpgrade = (request: IncomingMessage, socket: Duplex): void => {
      if (request.url?.includes('/stream')) upgrades.push({ url: request.url, socket });
    };
    open.app.server.on('upgrade', onUpgrade);
    try {
      await load(page, openBase);
      await page.selectOption('#model', 'slow');
      await fillForm(page, {
        prompt: 'a giraffe in a hat',
        width: '256',
        height: '256',
        steps: '40',
        seed: '7',
      });
      await page.click('#generate');
      await eventually(async () => expect(await previewCount(page)).toBeGreaterThanOrEqual(2), 20_000);
      expect(upgrades).toHaveLength(1);
      expect(new URL(upgrades[0].url, openBase).searchParams.get('after')).toBeNull();
      upgrades[0].socket.destroy();

      // The page asks again from after the last event it saw, with the job's stream token.
      await eventually(() => expect(upgrades).toHaveLength(2), 20_000);
      const resumed = new URL(upgrades[1].url, openBase).searchParams;
      expect(Number(resumed.get('after'))).toBeGreaterThanOrEqual(2);
      expect(resumed.get('token')).toBeTruthy();
      // After the reconnect, previews and progress keep coming.
      const before = await previewCount(page);
      await eventually(
        async () => expect(await previewCount(page)).toBeGreaterThanOrEqual(before + 2),
        20_000,
      );
      expect(await text(page, '#eta')).toMatch(/^step \d+\/\d+ · about .+ left$/);
      expect(await text(page, '#status')).toBe('Running…');
      expect(await visible(page, '#error')).toBe(false);
      await page.screenshot({ path: path.join(SHOTS, 'resumed.png') });

      await page.click('#cancel');
      await eventually(async () => expect(await text(page, '#status')).toBe('Canceled.'), 20_000);
      const progress = await page.evaluate<number[]>(
        `[document.getElementById('progress').value, document.getElementById('progress').max]`,
      );
      expect(progress[0]).toBeLessThan(progress[1]);
      expect(await galleryItems(page).count()).toBe(0);
      expect(await page.locator('#generate').isEnabled()).toBe(true);
      expect(await page.locator('#cancel').isDisabled()).toBe(true);
      expect(await visible(page, '#error')).toBe(false);
      await page.screenshot({ path: path.join(SHOTS, 'canceled.png') });
      expect(problems).toEqual([]);
    } finally {
      open.app.server.off('upgrade', onUpgrade);
      await context.close();
    }
  }, 90_000);

  it('shows an API error in words', async () => {
    const { page, context, problems } = await newPage();
    await load(page, openBase);
    await fillForm(page, { prompt: 'a giraffe', width: '100' });
    await page.click('#generate');
    await eventually(async () => expect(await visible(page, '#error')).toBe(true));
    expect(await text(page, '#error')).toBe('Invalid request: width: must be a multiple of 8');
    expect(await text(page, '#status')).toBe('Not submitted.');
    expect(await page.locator('#generate').isEnabled()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'api-error.png') });
    expect(problems).toEqual([]);
    await context.close();
  });

  // Issue 17, item 20: after a finished job, a request refused by validation left that job's
  // "step 2/2" and full bar on the page, as if the refused request had run.
  it("clears the last job's progress when the next request is refused", async () => {
    const { page, context, problems } = await newPage();
    await load(page, openBase);
    await fillForm(page, { prompt: 'a quick giraffe', width: '64', height: '64', steps: '2' });
    await page.click('#generate');
    await eventually(async () => expect(await text(page, '#status')).toMatch(/^Done in /), 30_000);
    expect(await text(page, '#eta')).toMatch(/^step \d+\/\d+$/);
    await fillForm(page, { width: '100' });
    await page.click('#generate');
    await eventually(async () => expect(await text(page, '#status')).toBe('Not submitted.'));
    expect(await text(page, '#eta')).toBe('');
    expect(await page.evaluate<number>(`document.getElementById('progress').value`)).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it('fits a phone screen without sideways scrolling', async () => {
    const { page, context, problems } = await newPage({ width: 360, height: 740 });
    await load(page, openBase);
    expect(
      await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
    ).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(SHOTS, 'phone.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the playground with API keys on', () => {
  let keyed: DemoService;
  let base: string;

  beforeAll(async () => {
    keyed = await startDemoService({ env: { API_KEYS: KEY } });
    base = await keyed.app.listen({ port: 0, host: '127.0.0.1' });
  }, 60_000);
  afterAll(async () => keyed?.close());

  it('asks for the key once, keeps it for the tab, and works with it', async () => {
    const { page, context, problems } = await newPage();
    await page.goto(base + '/');
    await page.locator('#key-dialog').waitFor({ state: 'visible' });
    expect(await text(page, '#key-reason')).toBe(
      'This server needs an API key: send an API key as "Authorization: Bearer <key>"',
    );
    await page.screenshot({ path: path.join(SHOTS, 'api-key.png') });

    // A wrong key is refused in words, and the page asks again.
    await page.fill('#api-key', 'not-the-key');
    await page.keyboard.press('Enter');
    await eventually(async () =>
      expect(await text(page, '#key-reason')).toBe('The API refused the key: the API key is not valid'),
    );
    expect(await visible(page, '#key-dialog')).toBe(true);
    await page.fill('#api-key', KEY);
    await page.click('#key-save');
    await page.waitForSelector('body[data-ready="true"]');
    expect(await visible(page, '#key-dialog')).toBe(false);
    expect(await visible(page, '#error')).toBe(false);
    expect(await page.inputValue('#model')).toBe('demo');
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).toEqual([KEY]);

    // Submitting, the stream (its token) and the image (the key) all work.
    await fillForm(page, { prompt: 'a giraffe with a key', steps: '8', width: '256', height: '256' });
    await page.click('#generate');
    await eventually(async () => expect(await galleryItems(page).count()).toBe(1), 30_000);
    await eventually(async () => expect(await text(page, '#status')).toMatch(/^Done in /));
    expect(await visible(page, '#forget-key')).toBe(true);

    // A reload in the same tab keeps the key: no second prompt.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await visible(page, '#key-dialog')).toBe(false);
    expect(await visible(page, '#error')).toBe(false);

    // Without a key, dismissing the prompt leaves the refusal on the page, in words.
    await page.click('#forget-key');
    await page.reload();
    await page.locator('#key-dialog').waitFor({ state: 'visible' });
    await page.click('#key-dialog button[value="cancel"]');
    await eventually(async () =>
      expect(await text(page, '#error')).toBe(
        'Could not list the models: API key required: send an API key as "Authorization: Bearer <key>"',
      ),
    );
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
