// The giraffe playground: a client of the public HTTP API, in plain browser
// JavaScript, meant to be read by anyone writing a client. It
//   1. lists the models (GET /v1/models) to fill the form's defaults,
//   2. submits a job (POST /v1/generate → 202 with links.stream and stream_token),
//   3. watches it over the WebSocket (text frames: JSON events; binary frames:
//      a 16-byte header, then a preview image), resuming with ?after=<seq>
//      when the socket drops,
//   4. cancels it (DELETE /v1/jobs/:id) and fetches its images
//      (GET /v1/jobs/:id/images/:n).
// With API keys on, a 401 asks for a key once; it is kept in sessionStorage.
'use strict';

(() => {
  const KEY_STORAGE = 'giraffe.playground.apiKey';
  const PREVIEW_HEADER_BYTES = 16;
  const PREVIEW_TYPES = { 1: 'image/jpeg', 2: 'image/webp', 3: 'image/png' };
  const FINAL = new Set(['succeeded', 'failed', 'canceled']);
  /** Reconnect waits grow from 250 ms to 5 s; after this many failures in a row the page gives up. */
  const MAX_RECONNECTS = 8;

  const $ = (id) => document.getElementById(id);
  const form = $('generate-form');
  const canvas = $('preview');
  const context = canvas.getContext('2d');
  let models = [];
  /** The job being watched: { id, job, socket, lastSeq, … }; null when idle. */
  let current = null;

  // ---------------------------------------------------------------- errors

  /** An API error: the problem+json body's detail, in words. */
  class ApiError extends Error {
    constructor(status, problem) {
      const title = problem.title ? `${problem.title}: ` : '';
      super(`${title}${problem.detail || `the server answered ${status}`}`);
      this.status = status;
      this.problem = problem;
    }
  }

  function showError(message) {
    const box = $('error');
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  // --------------------------------------------------------------- API keys

  let pendingKey = null;

  /** Asks for a key in a modal dialog; resolves with it, or null when the user cancels. */
  function askForKey(reason) {
    if (pendingKey) return pendingKey;
    const dialog = $('key-dialog');
    const input = $('api-key');
    $('key-reason').textContent = reason;
    input.value = '';
    pendingKey = new Promise((resolve) => {
      const done = (key) => {
        dialog.removeEventListener('close', onClose);
        $('key-form').removeEventListener('submit', onSubmit);
        if (dialog.open) dialog.close();
        pendingKey = null;
        resolve(key);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        if (event.submitter && event.submitter.value === 'cancel') return done(null);
        const key = input.value.trim();
        if (key) done(key);
      };
      const onClose = () => done(null);
      $('key-form').addEventListener('submit', onSubmit);
      dialog.addEventListener('close', onClose);
      dialog.showModal();
      input.focus();
    });
    return pendingKey;
  }

  function storedKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  function updateForgetButton() {
    $('forget-key').hidden = storedKey() === null;
  }

  // -------------------------------------------------------------------- API

  async function readProblem(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body === 'object') return body;
    } catch {
      // Not JSON (a proxy's error page): say what came back.
    }
    return { detail: `${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}` };
  }

  /**
   * One API call. A 401 asks for a key and tries again with it; any other
   * error status throws an ApiError carrying the problem's detail.
   */
  async function api(method, url, body) {
    for (;;) {
      const headers = {};
      const key = storedKey();
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let response;
      try {
        response = await fetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new Error(`Could not reach the server (${err.message}).`);
      }
      if (response.status === 401) {
        const problem = await readProblem(response);
        const reason = key
          ? `The API refused the key: ${problem.detail}`
          : `This server needs an API key: ${problem.detail}`;
        const newKey = await askForKey(reason);
        if (newKey === null) throw new ApiError(401, problem);
        sessionStorage.setItem(KEY_STORAGE, newKey);
        updateForgetButton();
        continue;
      }
      if (!response.ok) throw new ApiError(response.status, await readProblem(response));
      return response;
    }
  }

  // ------------------------------------------------------------------ form

  function fillSchedulers(model) {
    const select = $('scheduler');
    const chosen = select.value;
    select.replaceChildren(new Option(`the model's default (${model.defaults.scheduler})`, ''));
    for (const name of model.schedulers) select.add(new Option(name, name));
    select.value = model.schedulers.includes(chosen) ? chosen : '';
  }

  function applyModelDefaults(model) {
    for (const field of ['width', 'height', 'steps', 'guidance_scale']) {
      const input = $(field);
      if (input.value === '' && model.defaults[field] !== undefined) input.value = model.defaults[field];
    }
    fillSchedulers(model);
  }

  async function loadModels() {
    const response = await api('GET', '/v1/models');
    const body = await response.json();
    models = body.models;
    const select = $('model');
    // A model no worker serves is listed but marked: a job for it would be refused (503).
    const label = (m) => (m.served === false ? `${m.id} (no worker)` : m.id);
    select.replaceChildren(...models.map((m) => new Option(label(m), m.id, false, m.id === body.default)));
    const model = models.find((m) => m.id === select.value);
    if (model) applyModelDefaults(model);
  }

  /** The request body from the form: empty fields are left to the server's defaults. */
  function readForm() {
    const body = { prompt: $('prompt').value };
    const text = (id) => $(id).value.trim();
    if (text('negative_prompt')) body.negative_prompt = $('negative_prompt').value;
    if (text('model')) body.model = text('model');
    if (text('scheduler')) body.scheduler = text('scheduler');
    for (const field of ['width', 'height', 'steps', 'guidance_scale', 'seed']) {
      // Numbers as typed; the API validates them and says what is wrong.
      if (text(field) !== '') body[field] = Number(text(field));
    }
    return body;
  }

  // ------------------------------------------------------------- progress

  function formatMs(ms) {
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }

  function showProgress(step, steps, etaMs) {
    const bar = $('progress');
    bar.max = steps;
    bar.value = step;
    bar.setAttribute('aria-valuetext', `step ${step} of ${steps}`);
    $('eta').textContent =
      `step ${step}/${steps}` + (etaMs !== undefined ? ` · about ${formatMs(etaMs)} left` : '');
  }

  /** No job's progress: what the page shows before a job, and after a request that made none. */
  function clearProgress() {
    const bar = $('progress');
    bar.max = 1;
    bar.value = 0;
    bar.removeAttribute('aria-valuetext');
    $('eta').textContent = '';
  }

  function resetCanvas() {
    canvas.dataset.previewCount = '0';
    context.fillStyle = '#222';
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function drawOnCanvas(bitmap) {
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      // The canvas takes the image's proportions; CSS scales it to the page.
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
  }

  /** A binary frame: 16-byte header (big-endian: version, format, step, steps, width, height, seq, id length), then the image. */
  async function onPreview(watch, buffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < PREVIEW_HEADER_BYTES || view.getUint8(0) !== 1) return;
    const type = PREVIEW_TYPES[view.getUint8(1)];
    if (!type) return;
    const step = view.getUint16(2);
    const steps = view.getUint16(4);
    const idLength = view.getUint16(14);
    const image = new Blob([buffer.slice(PREVIEW_HEADER_BYTES + idLength)], { type });
    let bitmap;
    try {
      bitmap = await createImageBitmap(image);
    } catch (err) {
      console.warn('a preview could not be decoded', err);
      return;
    }
    // Decoding is asynchronous: a preview that finishes after a newer one, or
    // after the final image, must not paint over it.
    if (watch !== current || watch.finished || step < watch.previewStep) return bitmap.close();
    watch.previewStep = step;
    drawOnCanvas(bitmap);
    canvas.dataset.previewCount = String(Number(canvas.dataset.previewCount) + 1);
    canvas.dataset.previewStep = String(step);
    if (watch.step < step) showProgress(step, steps, undefined);
  }

  // ------------------------------------------------------------ the stream

  function streamUrl(watch) {
    const url = new URL(watch.job.links.stream, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', watch.job.stream_token);
    url.searchParams.set('preview_size', '512');
    if (watch.lastSeq !== undefined) url.searchParams.set('after', String(watch.lastSeq));
    return url.href;
  }

  function connect(watch) {
    const socket = new WebSocket(streamUrl(watch));
    socket.binaryType = 'arraybuffer';
    watch.socket = socket;
    socket.addEventListener('open', () => {
      watch.failures = 0;
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') onMessage(watch, JSON.parse(event.data));
      else void onPreview(watch, event.data);
    });
    socket.addEventListener('close', (event) => {
      if (watch.finished || watch !== current) return;
      void reconnect(watch, event);
    });
  }

  /** The socket dropped before the job ended: ask where the job is, then resume after the last event seen. */
  async function reconnect(watch, event) {
    watch.failures += 1;
    if (watch.failures > MAX_RECONNECTS) {
      showError(
        `Lost the progress stream (close code ${event.code}${event.reason ? `: ${event.reason}` : ''}).`,
      );
      finish(watch, 'Stopped watching the job.');
      return;
    }
    setStatus(`Connection lost; reconnecting (try ${watch.failures})…`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** (watch.failures - 1))));
    if (watch.finished || watch !== current) return;
    try {
      const job = await (await api('GET', watch.job.links.self)).json();
      if (FINAL.has(job.status)) return void onJobState(watch, job);
    } catch (err) {
      if (err instanceof ApiError && err.status !== 503) {
        showError(err.message);
        return finish(watch, 'Stopped watching the job.');
      }
      // Unreachable or going away: try the socket anyway.
    }
    connect(watch);
  }

  function onMessage(watch, message) {
    if (typeof message.seq === 'number') watch.lastSeq = message.seq;
    switch (message.type) {
      case 'snapshot':
        return onJobState(watch, message.job);
      case 'queued':
        return setStatus(
          message.position !== undefined ? `Queued, position ${message.position}.` : 'Queued.',
        );
      case 'started':
        return setStatus('Running…');
      case 'progress':
        watch.step = message.step;
        setStatus('Running…');
        return showProgress(message.step, message.steps, message.eta_ms);
      case 'succeeded':
        return void onSucceeded(watch, message.result);
      case 'failed':
        showError(`The job failed: ${message.error.message} (${message.error.code}).`);
        return finish(watch, 'Failed.');
      case 'canceled':
        return finish(watch, 'Canceled.');
      case 'error':
        return showError(`The stream reported an error: ${message.message}`);
      default:
      // Newer servers may send more: a client ignores what it does not know.
    }
  }

  /** A whole job (the snapshot, or GET /v1/jobs/:id after a drop). */
  function onJobState(watch, job) {
    watch.job = { ...watch.job, ...job, links: { ...watch.job.links, ...job.links } };
    if (job.progress) showProgress(job.progress.step, job.progress.steps, job.progress.eta_ms);
    if (job.status === 'queued')
      setStatus(job.position !== undefined ? `Queued, position ${job.position}.` : 'Queued.');
    else if (job.status === 'running') setStatus('Running…');
    else if (job.status === 'succeeded') void onSucceeded(watch, job.result);
    else if (job.status === 'failed') {
      showError(`The job failed: ${job.error ? job.error.message : 'no reason given'}.`);
      finish(watch, 'Failed.');
    } else if (job.status === 'canceled') finish(watch, 'Canceled.');
  }

  async function onSucceeded(watch, result) {
    if (watch.finished) return;
    watch.finished = true;
    setStatus('Fetching the image…');
    try {
      for (const image of result.images) {
        const blob = await (await api('GET', image.url)).blob();
        drawOnCanvas(await createImageBitmap(blob));
        addToGallery(watch, result, image, blob);
      }
      const bar = $('progress');
      showProgress(Number(bar.max), Number(bar.max), undefined);
      finish(watch, `Done in ${formatMs(result.timings.total_ms)} (seed ${result.seed}).`);
    } catch (err) {
      showError(err.message);
      finish(watch, 'Finished, but the image could not be fetched.');
    }
  }

  function finish(watch, status) {
    watch.finished = true;
    if (watch.socket && watch.socket.readyState <= WebSocket.OPEN) watch.socket.close(1000);
    if (current === watch) current = null;
    setStatus(status);
    $('generate').disabled = false;
    $('cancel').disabled = true;
    canvas.setAttribute('aria-busy', 'false');
  }

  // --------------------------------------------------------------- gallery

  function addToGallery(watch, result, image, blob) {
    const request = watch.job.request;
    const item = document.createElement('li');
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = URL.createObjectURL(blob);
    img.alt = request.prompt;
    img.width = result.width;
    img.height = result.height;
    const caption = document.createElement('figcaption');
    const prompt = document.createElement('p');
    prompt.className = 'prompt';
    prompt.textContent = request.prompt;
    const params = document.createElement('p');
    params.className = 'params';
    params.textContent =
      `${result.width}×${result.height}, ${request.steps} steps, ${request.scheduler}, ` +
      `guidance ${request.guidance_scale}, seed ${result.seed}, model ${watch.job.model}`;
    const reuseSeed = document.createElement('button');
    reuseSeed.type = 'button';
    reuseSeed.className = 'reuse-seed';
    reuseSeed.textContent = `Use seed ${result.seed}`;
    reuseSeed.addEventListener('click', () => {
      $('seed').value = String(result.seed);
      setStatus(`Seed set to ${result.seed}.`);
      $('seed').focus();
    });
    const reuseAll = document.createElement('button');
    reuseAll.type = 'button';
    reuseAll.className = 'reuse-all';
    reuseAll.textContent = 'Use all settings';
    reuseAll.addEventListener('click', () => {
      $('prompt').value = request.prompt;
      $('negative_prompt').value = request.negative_prompt || '';
      for (const field of ['width', 'height', 'steps', 'guidance_scale'])
        $(field).value = String(request[field]);
      $('seed').value = String(result.seed);
      if ([...$('model').options].some((o) => o.value === watch.job.model))
        $('model').value = watch.job.model;
      const model = models.find((m) => m.id === $('model').value);
      if (model) fillSchedulers(model);
      $('scheduler').value = request.scheduler;
      setStatus('Settings copied to the form.');
      $('prompt').focus();
    });
    caption.append(prompt, params, reuseSeed, reuseAll);
    figure.append(img, caption);
    item.append(figure);
    item.dataset.seed = String(result.seed);
    item.dataset.jobId = watch.job.id;
    $('gallery').prepend(item);
    $('gallery-empty').hidden = true;
  }

  // --------------------------------------------------------------- actions

  async function generate(event) {
    event.preventDefault();
    if (current) return;
    clearError();
    const body = readForm();
    $('generate').disabled = true;
    setStatus('Submitting…');
    let job;
    try {
      // The edit panel (edit-panel.js) adds image, mask_image and strength when an image is chosen.
      Object.assign(body, await globalThis.giraffeEditFields());
      job = await (await api('POST', '/v1/generate', body)).json();
    } catch (err) {
      // Nothing was made: the last job's progress must not look like this request's (issue 17, item 20).
      clearProgress();
      showError(err.message);
      setStatus('Not submitted.');
      $('generate').disabled = false;
      return;
    }
    resetCanvas();
    showProgress(0, job.request.steps, undefined);
    const watch = {
      job,
      lastSeq: undefined,
      step: 0,
      previewStep: 0,
      failures: 0,
      finished: false,
      socket: null,
    };
    current = watch;
    canvas.setAttribute('aria-busy', 'true');
    $('cancel').disabled = false;
    setStatus(
      job.status === 'queued' && job.position !== undefined
        ? `Queued, position ${job.position}.`
        : 'Starting…',
    );
    connect(watch);
  }

  async function cancel() {
    const watch = current;
    if (!watch) return;
    $('cancel').disabled = true;
    setStatus('Canceling…');
    try {
      await api('DELETE', watch.job.links.self);
      // The stream brings the `canceled` event (a running job stops at its next step).
    } catch (err) {
      // 409: it ended first; the stream says how.
      if (!(err instanceof ApiError && err.status === 409)) showError(err.message);
      if (!watch.finished) $('cancel').disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  form.addEventListener('submit', generate);
  $('cancel').addEventListener('click', cancel);
  $('model').addEventListener('change', () => {
    const model = models.find((m) => m.id === $('model').value);
    if (model) applyModelDefaults(model);
  });
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    updateForgetButton();
    setStatus('API key forgotten.');
  });
  updateForgetButton();
  resetCanvas();
  loadModels().then(
    () => {
      document.body.dataset.ready = 'true';
    },
    (err) => {
      showError(`Could not list the models: ${err.message}`);
      document.body.dataset.ready = 'true';
    },
  );
})();
