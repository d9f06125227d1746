// @ts-check
/**
 * Local media helpers: camera and microphone with errors people can act
 * on, device lists, a microphone level meter, and creating rooms.
 * @module
 */
import { PeercallError } from './errors.js';

/**
 * @typedef {object} LocalMediaRequest
 * @property {boolean} [audio] default true
 * @property {boolean} [video] default true
 * @property {string} [audioDeviceId]
 * @property {string} [videoDeviceId]
 */

/**
 * @typedef {object} LocalMediaResult
 * @property {MediaStream} stream whatever could be opened; may have no tracks
 * @property {PeercallError|null} audioError why the microphone could not be opened
 * @property {PeercallError|null} videoError why the camera could not be opened
 */

/** @param {string|undefined} id */
function deviceConstraint(id) {
  return id ? { deviceId: { exact: id } } : true;
}

/**
 * Opens the camera and microphone. Never rejects for a missing or blocked
 * device: it returns what it could open and why the rest failed, so a
 * caller can offer to join with audio only or with neither.
 * @param {LocalMediaRequest} [req]
 * @returns {Promise<LocalMediaResult>}
 */
export async function getLocalMedia(req = {}) {
  const wantAudio = req.audio !== false, wantVideo = req.video !== false;
  /** @type {LocalMediaResult} */
  const res = { stream: new MediaStream(), audioError: null, videoError: null };
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new PeercallError('media_failed',
      'This page cannot use the camera or microphone: it must be opened over https (or on localhost).');
    if (wantAudio) res.audioError = err;
    if (wantVideo) res.videoError = err;
    return res;
  }
  /** @type {MediaStreamConstraints} */
  const both = {
    audio: wantAudio ? deviceConstraint(req.audioDeviceId) : false,
    video: wantVideo ? videoConstraints(req.videoDeviceId) : false,
  };
  if (!wantAudio && !wantVideo) return res;
  try {
    res.stream = await navigator.mediaDevices.getUserMedia(both);
    return res;
  } catch (e) {
    if (!(wantAudio && wantVideo)) {
      if (wantAudio) res.audioError = describeMediaError(e, 'microphone');
      else res.videoError = describeMediaError(e, 'camera');
      return res;
    }
  }
  // One of the two failed, or both: find out which, one at a time.
  const tracks = [];
  try {
    const s = await navigator.mediaDevices.getUserMedia({ audio: both.audio });
    tracks.push(...s.getTracks());
  } catch (e) {
    res.audioError = describeMediaError(e, 'microphone');
  }
  try {
    const s = await navigator.mediaDevices.getUserMedia({ video: both.video });
    tracks.push(...s.getTracks());
  } catch (e) {
    res.videoError = describeMediaError(e, 'camera');
  }
  res.stream = new MediaStream(tracks);
  return res;
}

/**
 * Video constraints for a call: 720p where the camera offers it.
 * @param {string} [deviceId]
 * @returns {MediaTrackConstraints}
 */
export function videoConstraints(deviceId) {
  /** @type {MediaTrackConstraints} */
  const c = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (deviceId) c.deviceId = { exact: deviceId };
  return c;
}

/**
 * Turns a getUserMedia rejection into a PeercallError with a plain-words
 * message. Codes: media_not_allowed (blocked), media_not_found (no such
 * device), media_not_readable (in use by another app), media_failed.
 * @param {unknown} err
 * @param {'camera'|'microphone'} what
 * @returns {PeercallError}
 */
export function describeMediaError(err, what) {
  const name = err && typeof err === 'object' && 'name' in err ? String(err.name) : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new PeercallError('media_not_allowed', `Your browser is blocking the ${what}.`, { cause: err });
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new PeercallError('media_not_found', `No ${what} was found.`, { cause: err });
    case 'NotReadableError':
    case 'AbortError':
      return new PeercallError('media_not_readable',
        `The ${what} is in use by another app, or the system is not letting the browser use it.`, { cause: err });
    default:
      return new PeercallError('media_failed', `The ${what} could not be started.`, { cause: err });
  }
}

/**
 * @typedef {object} DeviceLists
 * @property {MediaDeviceInfo[]} cameras
 * @property {MediaDeviceInfo[]} microphones
 * @property {MediaDeviceInfo[]} speakers empty where the browser cannot pick outputs
 */

/**
 * Lists cameras, microphones and speakers. Labels are empty until the user
 * has granted access once.
 * @returns {Promise<DeviceLists>}
 */
export async function listDevices() {
  const all = navigator.mediaDevices && navigator.mediaDevices.enumerateDevices
    ? await navigator.mediaDevices.enumerateDevices() : [];
  const canPickOutput = 'setSinkId' in HTMLMediaElement.prototype;
  return {
    cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    microphones: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
    speakers: canPickOutput ? all.filter((d) => d.kind === 'audiooutput' && d.deviceId) : [],
  };
}

/** @type {AudioContext|null} */
let sharedAudioContext = null;

/** @returns {AudioContext} */
function audioContext() {
  if (!sharedAudioContext) {
    const ctx = new AudioContext();
    sharedAudioContext = ctx;
    // Browsers start an AudioContext suspended until the user interacts
    // with the page; resume it on the first click or key press.
    const resume = () => {
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
      if (ctx.state === 'running') {
        removeEventListener('pointerdown', resume, true);
        removeEventListener('keydown', resume, true);
      }
    };
    addEventListener('pointerdown', resume, true);
    addEventListener('keydown', resume, true);
  }
  if (sharedAudioContext.state === 'suspended') sharedAudioContext.resume().catch(() => {});
  return sharedAudioContext;
}

/** Measures the loudness of an audio track, 0 to 1. */
export class LevelMeter {
  /** @param {MediaStreamTrack} track */
  constructor(track) {
    const ctx = audioContext();
    this.source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 512;
    this.buf = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
    this.smoothed = 0;
  }

  /**
   * The current level, smoothed, on a perceptual 0–1 scale.
   * @returns {number}
   */
  level() {
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    const rms = Math.sqrt(sum / this.buf.length);
    // Map -60 dBFS..0 dBFS to 0..1.
    const db = 20 * Math.log10(rms + 1e-9);
    const lvl = Math.max(0, Math.min(1, (db + 60) / 60));
    this.smoothed = Math.max(lvl, this.smoothed * 0.85);
    return this.smoothed;
  }

  close() {
    try { this.source.disconnect(); } catch { /* already */ }
  }
}

/**
 * Asks the server to create a room with an unguessable, readable name.
 * @param {string} [server] base URL; default the page's origin
 * @returns {Promise<string>} the room name
 */
export async function createRoom(server) {
  const url = new URL('/api/rooms', server || location.origin);
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  } catch (e) {
    throw new PeercallError('connection_failed', 'Could not reach the server.', { cause: e });
  }
  if (!res.ok) {
    throw new PeercallError(res.status === 429 ? 'rate_limited' : 'internal',
      `The server could not create a room (HTTP ${res.status}).`);
  }
  const body = await res.json();
  if (!body || typeof body.room !== 'string') throw new PeercallError('internal', 'The server sent no room name.');
  return body.room;
}
