// @ts-check
/**
 * The user's own camera and microphone, shared by the pre-join screen and
 * the call. Camera off releases the camera (its light goes out); mute keeps
 * the microphone open but silent, so unmuting is instant.
 */
import { getLocalMedia, videoConstraints, describeMediaError, listDevices } from '../sdk/index.js';
import { store } from './ui.js';

/** @typedef {import('../sdk/index.js').PeercallError} PeercallError */

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    /** @type {MediaStreamTrack|null} */
    this.audio = null;
    /** @type {MediaStreamTrack|null} */
    this.video = null;
    this.micOn = true;
    this.camOn = true;
    this.cameraId = store.get('camera');
    this.micId = store.get('microphone');
    this.speakerId = store.get('speaker');
    /** @type {PeercallError|null} */
    this.audioError = null;
    /** @type {PeercallError|null} */
    this.videoError = null;
    /** @type {import('../sdk/media.js').DeviceLists} */
    this.devices = { cameras: [], microphones: [], speakers: [] };
    navigator.mediaDevices?.addEventListener('devicechange', () => this.refreshDevices());
  }

  /** Opens what is wanted and not yet open. */
  async open() {
    const wantAudio = !this.audio, wantVideo = this.camOn && !this.video;
    if (!wantAudio && !wantVideo) return;
    let res = await getLocalMedia({
      audio: wantAudio, video: wantVideo,
      audioDeviceId: this.micId || undefined, videoDeviceId: this.cameraId || undefined,
    });
    // A remembered device may be gone: retry with the defaults.
    if ((res.audioError?.code === 'media_not_found' && this.micId) ||
        (res.videoError?.code === 'media_not_found' && this.cameraId)) {
      res.stream.getTracks().forEach((t) => t.stop());
      this.micId = ''; this.cameraId = '';
      res = await getLocalMedia({ audio: wantAudio, video: wantVideo });
    }
    if (wantAudio) {
      this.audio = res.stream.getAudioTracks()[0] || null;
      this.audioError = res.audioError;
      if (this.audio) this.audio.enabled = this.micOn;
    }
    if (wantVideo) {
      this.video = res.stream.getVideoTracks()[0] || null;
      this.videoError = res.videoError;
    }
    this.watch(this.audio); this.watch(this.video);
    await this.refreshDevices();
    this.changed();
  }

  /** @param {MediaStreamTrack|null} t */
  watch(t) {
    if (!t || t.onended) return;
    t.onended = () => {
      // Unplugged or revoked: forget the track so the UI can offer to reopen.
      if (this.audio === t) this.audio = null;
      if (this.video === t) { this.video = null; this.camOn = false; }
      this.changed();
    };
  }

  /** Opens a track of one kind with the chosen device; returns it or sets the error. */
  /**
   * @param {'audio'|'video'} kind
   * @returns {Promise<MediaStreamTrack|null>}
   */
  async openOne(kind) {
    try {
      const s = await navigator.mediaDevices.getUserMedia(kind === 'audio'
        ? { audio: this.micId ? { deviceId: { exact: this.micId } } : true }
        : { video: videoConstraints(this.cameraId || undefined) });
      const t = s.getTracks()[0];
      if (kind === 'audio') this.audioError = null; else this.videoError = null;
      this.watch(t);
      return t;
    } catch (e) {
      const err = describeMediaError(e, kind === 'audio' ? 'microphone' : 'camera');
      if (kind === 'audio') this.audioError = err; else this.videoError = err;
      return null;
    }
  }

  /**
   * Turns the camera on or off. Returns the new track (or null).
   * @param {boolean} on
   * @returns {Promise<MediaStreamTrack|null>}
   */
  async setCamera(on) {
    this.camOn = on;
    if (!on) {
      this.video?.stop();
      this.video = null;
    } else if (!this.video) {
      this.video = await this.openOne('video');
      if (!this.video) this.camOn = false;
      await this.refreshDevices();
    }
    this.changed();
    return this.video;
  }

  /**
   * Mutes or unmutes; opens the microphone if it was not open.
   * @param {boolean} on
   */
  async setMic(on) {
    this.micOn = on;
    if (on && !this.audio) {
      this.audio = await this.openOne('audio');
      if (!this.audio) this.micOn = false;
      await this.refreshDevices();
    }
    if (this.audio) this.audio.enabled = this.micOn;
    this.changed();
    return this.audio;
  }

  /**
   * Switches to another camera or microphone; returns the new track.
   * @param {'audio'|'video'} kind
   * @param {string} deviceId
   * @returns {Promise<MediaStreamTrack|null>}
   */
  async switchDevice(kind, deviceId) {
    if (kind === 'audio') { this.micId = deviceId; store.set('microphone', deviceId); }
    else { this.cameraId = deviceId; store.set('camera', deviceId); }
    const old = kind === 'audio' ? this.audio : this.video;
    if (kind === 'video' && !this.camOn) return null;
    // Open the new device first so the others see no gap; if the system
    // cannot run both at once, release the old one and try again.
    let t = await this.openOne(kind);
    if (!t && old) {
      old.onended = null;
      old.stop();
      t = await this.openOne(kind);
    }
    if (old && t) { old.onended = null; old.stop(); }
    if (kind === 'audio') {
      if (t) t.enabled = this.micOn;
      if (t || (old && old.readyState === 'ended')) this.audio = t;
    } else if (t || (old && old.readyState === 'ended')) {
      this.video = t;
    }
    this.changed();
    return t;
  }

  /** @param {string} id */
  setSpeaker(id) {
    this.speakerId = id;
    store.set('speaker', id);
    this.changed();
  }

  async refreshDevices() {
    try {
      this.devices = await listDevices();
    } catch {
      /* keep the old lists */
    }
    const a = this.audio?.getSettings().deviceId, v = this.video?.getSettings().deviceId;
    if (a) this.micId = a;
    if (v) this.cameraId = v;
    this.dispatchEvent(new Event('devices'));
  }

  changed() { this.dispatchEvent(new Event('change')); }

  /** Stops everything. */
  stop() {
    for (const t of [this.audio, this.video]) if (t) { t.onended = null; t.stop(); }
    this.audio = null;
    this.video = null;
  }
}
