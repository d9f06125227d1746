// @ts-check
/**
 * The pre-join screen: camera preview, microphone meter, device pickers,
 * display name, mute and camera toggles, and plain-words help when the
 * browser blocks or cannot find the camera or microphone.
 */
import { LevelMeter } from '../sdk/index.js';
import { $, fillDeviceSelect, noDevice, initials, colorFor, setIcon, store, showView } from './ui.js';

/** @typedef {import('./local.js').LocalMedia} LocalMedia */
/** @typedef {import('../sdk/index.js').PeercallError} PeercallError */

/**
 * How to fix each kind of media problem, in plain words.
 * @param {PeercallError|null} audioErr
 * @param {PeercallError|null} videoErr
 * @returns {{title: string, text: string, steps: string[]}|null}
 */
export function explainMediaErrors(audioErr, videoErr) {
  if (!audioErr && !videoErr) return null;
  const both = audioErr && videoErr;
  const what = both ? 'camera and microphone' : audioErr ? 'microphone' : 'camera';
  const code = (videoErr || audioErr)?.code;
  const codes = [audioErr?.code, videoErr?.code];
  const after = both
    ? 'You can still join to listen, watch and chat.'
    : audioErr ? 'You can still join with your camera only, and listen and chat.' : 'You can still join with audio only.';
  if (codes.includes('media_not_allowed')) {
    return {
      title: `Your browser is blocking the ${what}`,
      text: `peercall needs your permission to use the ${what}. ${after}`,
      steps: [
        'Click the camera or lock icon at the left end of the address bar.',
        `Set ${both ? 'Camera and Microphone' : audioErr ? 'Microphone' : 'Camera'} to “Allow”.`,
        'Click “Try again” below (or reload the page).',
        'Still blocked? Your computer may block the browser too: on macOS see System Settings → Privacy & Security; on Windows see Settings → Privacy → Camera and Microphone.',
      ],
    };
  }
  if (code === 'media_not_readable' || codes.includes('media_not_readable')) {
    return {
      title: `Your ${what} ${both ? 'are' : 'is'} in use by another app`,
      text: `Another program or browser tab is using the ${what}, or the system will not let the browser use ${both ? 'them' : 'it'}. ${after}`,
      steps: ['Close other video call apps and tabs that use the camera or microphone.', 'Click “Try again”.'],
    };
  }
  if (codes.includes('media_not_found')) {
    return {
      title: `No ${what} found`,
      text: `We couldn't find a ${what} on this device. ${after}`,
      steps: ['Plug in a camera or headset, or check that it is switched on.', 'Click “Try again”.'],
    };
  }
  return {
    title: `The ${what} could not be started`,
    text: `${(videoErr || audioErr)?.message || ''} ${after}`,
    steps: ['Click “Try again”.', 'If it keeps failing, restart the browser.'],
  };
}

/**
 * Runs the pre-join screen until the user presses Join.
 * @param {string} room
 * @param {LocalMedia} local
 * @returns {Promise<{name: string}>}
 */
export function runPrejoin(room, local) {
  showView('prejoin');
  document.title = `${room} · peercall`;
  $('pre-room').textContent = room;
  const video = $('pre-video', HTMLVideoElement);
  const nameInput = $('pre-name', HTMLInputElement);
  const micBtn = $('pre-mic', HTMLButtonElement);
  const camBtn = $('pre-cam', HTMLButtonElement);
  const joinBtn = $('pre-join', HTMLButtonElement);
  const status = $('pre-status');
  const meterBar = $('pre-meter');
  const camSel = $('pre-camera', HTMLSelectElement);
  const micSel = $('pre-microphone', HTMLSelectElement);
  const spkSel = $('pre-speaker', HTMLSelectElement);
  nameInput.value = store.get('name');

  /** @type {LevelMeter|null} */
  let meter = null;
  /** @type {MediaStreamTrack|null} */
  let meterTrack = null;
  let raf = 0;
  const tick = () => {
    meterBar.style.width = `${meter && local.micOn ? Math.round(meter.level() * 100) : 0}%`;
    raf = requestAnimationFrame(tick);
  };
  raf = requestAnimationFrame(tick);

  const render = () => {
    if (local.audio !== meterTrack) {
      meter?.close();
      meterTrack = local.audio;
      meter = meterTrack ? new LevelMeter(meterTrack) : null;
    }
    const stream = local.video ? new MediaStream([local.video]) : null;
    if (video.srcObject !== stream && (stream || video.srcObject)) {
      const cur = /** @type {MediaStream|null} */ (video.srcObject);
      if (!stream || !cur || cur.getVideoTracks()[0] !== local.video) video.srcObject = stream;
    }
    $('pre-novideo').hidden = !!local.video;
    meterBar.parentElement?.toggleAttribute('hidden', !local.audio);
    const av = $('pre-avatar');
    av.textContent = initials(nameInput.value || '?');
    av.style.background = colorFor(nameInput.value || room);
    $('pre-novideo-text').textContent = local.videoError && !local.video ? 'Camera unavailable' : 'Camera is off';

    micBtn.classList.toggle('off', !(local.micOn && local.audio));
    micBtn.setAttribute('aria-label', local.micOn && local.audio ? 'Mute microphone' : 'Unmute microphone');
    micBtn.title = micBtn.getAttribute('aria-label') || '';
    setIcon(micBtn, local.micOn && local.audio ? 'mic' : 'mic-off');
    camBtn.classList.toggle('off', !local.video);
    camBtn.setAttribute('aria-label', local.video ? 'Turn camera off' : 'Turn camera on');
    camBtn.title = camBtn.getAttribute('aria-label') || '';
    setIcon(camBtn, local.video ? 'cam' : 'cam-off');

    const help = explainMediaErrors(local.audio ? null : local.audioError, local.video || !local.camOn ? null : local.videoError);
    const box = $('pre-media-error');
    box.hidden = !help;
    if (help) {
      $('pre-media-error-title').textContent = help.title;
      $('pre-media-error-text').textContent = help.text;
      $('pre-media-error-howto').replaceChildren(...help.steps.map((s) => {
        const li = document.createElement('li');
        li.textContent = s;
        return li;
      }));
    }
    joinBtn.textContent = !local.audio && !local.video ? 'Join without camera and mic'
      : !local.video && local.videoError ? 'Join with audio only' : 'Join now';
  };
  const renderDevices = () => {
    fillDeviceSelect(camSel, local.devices.cameras, local.cameraId, noDevice(local.videoError, 'camera'));
    fillDeviceSelect(micSel, local.devices.microphones, local.micId, noDevice(local.audioError, 'microphone'));
    fillDeviceSelect(spkSel, local.devices.speakers, local.speakerId, 'System default');
    $('pre-speaker-label').hidden = local.devices.speakers.length === 0;
  };
  local.addEventListener('change', render);
  local.addEventListener('devices', renderDevices);
  nameInput.addEventListener('input', render);

  micBtn.onclick = () => local.setMic(!(local.micOn && local.audio));
  camBtn.onclick = () => local.setCamera(!local.video);
  camSel.onchange = () => local.switchDevice('video', camSel.value);
  micSel.onchange = () => local.switchDevice('audio', micSel.value);
  spkSel.onchange = () => local.setSpeaker(spkSel.value);
  $('pre-retry').onclick = async () => {
    status.textContent = 'Asking the browser again…';
    if (!local.audio) await local.setMic(local.micOn);
    if (!local.video) await local.setCamera(true);
    status.textContent = local.audioError || local.videoError ? 'Still not available.' : '';
  };

  status.textContent = 'Starting camera and microphone…';
  joinBtn.disabled = true;
  local.open().finally(() => {
    status.textContent = '';
    joinBtn.disabled = false;
    render();
    renderDevices();
    if (!nameInput.value) nameInput.focus();
  });
  render();

  return new Promise((resolve) => {
    $('pre-form', HTMLFormElement).onsubmit = (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim().slice(0, 64);
      if (!name) { nameInput.focus(); return; }
      store.set('name', name);
      cancelAnimationFrame(raf);
      meter?.close();
      local.removeEventListener('change', render);
      local.removeEventListener('devices', renderDevices);
      resolve({ name });
    };
  });
}
