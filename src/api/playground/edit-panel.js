// The playground's image editing panel: drop or pick a picture, paint the
// area to repaint with a brush (or erase it), choose the strength. It hands
// playground.js the request's edit fields through globalThis.giraffeEditFields().
// Plain script (no modules, nothing inline) under the page's strict CSP.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_SIDE = 2048;
  const MIN_SIDE = 64;

  /** The chosen file and its size; the mask at the image's own resolution (painted = opaque, kept = clear). */
  let chosen = null;
  const mask = document.createElement('canvas');
  const maskContext = mask.getContext('2d');
  let painting = null;

  const view = () => $('edit-canvas');
  const overlay = () => $('mask-canvas');

  function round8(v) {
    return Math.min(MAX_SIDE, Math.max(MIN_SIDE, Math.round(v / 8) * 8));
  }

  function readAsDataUrl(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  /** Shows the mask over the picture: painted areas tinted red, the rest clear. */
  function drawOverlay() {
    const canvas = overlay();
    const context = canvas.getContext('2d');
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(mask, 0, 0, canvas.width, canvas.height);
    context.globalCompositeOperation = 'source-in';
    context.fillStyle = 'rgba(255, 48, 48, 0.5)';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.globalCompositeOperation = 'source-over';
  }

  function clearMask() {
    maskContext.clearRect(0, 0, mask.width, mask.height);
    overlay().dataset.painted = 'false';
    drawOverlay();
  }

  async function choose(file) {
    if (!file) return;
    if (!/^image\/(png|jpeg|webp)$/.test(file.type)) {
      $('edit-drop').dataset.error = 'Pick a PNG, JPEG or WebP image.';
      return;
    }
    delete $('edit-drop').dataset.error;
    const bitmap = await createImageBitmap(file);
    chosen = { file, width: bitmap.width, height: bitmap.height };
    // Shown at most 512 px wide; painted at the image's own resolution.
    const scale = Math.min(1, 512 / bitmap.width);
    for (const canvas of [view(), overlay()]) {
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
    }
    view().getContext('2d').drawImage(bitmap, 0, 0, view().width, view().height);
    mask.width = bitmap.width;
    mask.height = bitmap.height;
    clearMask();
    // The job's size: the picture's own, fitted to the limits (the API would do the same).
    const fit = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    $('width').value = String(round8(bitmap.width * fit));
    $('height').value = String(round8(bitmap.height * fit));
    for (const id of ['edit-stage', 'edit-tools', 'strength-field']) $(id).hidden = false;
    $('edit-panel').dataset.hasImage = 'true';
  }

  function remove() {
    chosen = null;
    $('edit-image').value = '';
    for (const id of ['edit-stage', 'edit-tools', 'strength-field']) $(id).hidden = true;
    delete $('edit-panel').dataset.hasImage;
  }

  /** A brush stroke from the last point to this one, in the mask's own pixels. */
  function stroke(event) {
    const canvas = overlay();
    const rect = canvas.getBoundingClientRect();
    const sx = mask.width / rect.width;
    const sy = mask.height / rect.height;
    const x = (event.clientX - rect.left) * sx;
    const y = (event.clientY - rect.top) * sy;
    const erase = $('brush-erase').checked;
    // Erasing makes the mask clear again (kept), painting makes it opaque white (repaint).
    maskContext.globalCompositeOperation = erase ? 'destination-out' : 'source-over';
    maskContext.strokeStyle = '#fff';
    maskContext.lineWidth = Number($('brush-size').value) * sx;
    maskContext.lineCap = 'round';
    maskContext.lineJoin = 'round';
    maskContext.beginPath();
    maskContext.moveTo(painting ? painting.x : x, painting ? painting.y : y);
    maskContext.lineTo(x, y);
    maskContext.stroke();
    maskContext.globalCompositeOperation = 'source-over';
    painting = { x, y };
    if (!erase) canvas.dataset.painted = 'true';
    drawOverlay();
  }

  /** True when some of the mask is white: something to repaint. */
  function maskPainted() {
    const { data } = maskContext.getImageData(0, 0, mask.width, mask.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] > 127) return true;
    return false;
  }

  /** The mask as the API takes it: a PNG, white = repaint, black = keep. */
  function maskPng() {
    const out = document.createElement('canvas');
    out.width = mask.width;
    out.height = mask.height;
    const context = out.getContext('2d');
    context.fillStyle = '#000';
    context.fillRect(0, 0, out.width, out.height);
    context.drawImage(mask, 0, 0);
    return out.toDataURL('image/png');
  }

  /** The edit fields of the request: none without an image; a mask only where something is painted. */
  globalThis.giraffeEditFields = async () => {
    if (!chosen) return {};
    const fields = { image: await readAsDataUrl(chosen.file), strength: Number($('strength').value) };
    if (maskPainted()) fields.mask_image = maskPng();
    return fields;
  };

  $('edit-image').addEventListener('change', (event) => void choose(event.target.files[0]));
  const drop = $('edit-drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('dragging');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    void choose(event.dataTransfer.files[0]);
  });
  const canvas = overlay();
  canvas.addEventListener('pointerdown', (event) => {
    canvas.setPointerCapture(event.pointerId);
    painting = null;
    stroke(event);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (painting) stroke(event);
  });
  for (const type of ['pointerup', 'pointercancel']) canvas.addEventListener(type, () => (painting = null));
  $('mask-clear').addEventListener('click', clearMask);
  $('edit-remove').addEventListener('click', remove);
  $('strength').addEventListener('input', () => {
    $('strength-value').value = Number($('strength').value).toFixed(2);
  });
})();
