// @ts-check
/**
 * A remote participant and the RTCPeerConnection to it: perfect
 * negotiation, trickle ICE, tracks, data channels, stats.
 * @module
 */
import { PeercallError } from './errors.js';
import { FileChannel } from './files.js';
import { reduceStats } from './stats.js';
import { safetyCodeOf } from './safety.js';

/** @typedef {import('./signaling.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./signaling.js').MediaState} MediaState */
/** @typedef {import('./stats.js').PeerStats} PeerStats */
/** @typedef {import('./stats.js').Quality} Quality */
/** @typedef {import('./files.js').FileTransfer} FileTransfer */

/**
 * How this side reaches the room: implemented by Room.
 * @typedef {object} PeerHost
 * @property {string} selfId
 * @property {RTCIceServer[]} iceServers
 * @property {boolean} relayOnly only TURN relay candidates (iceTransportPolicy "relay")
 * @property {number} maxFileBytes
 * @property {(type: 'offer'|'answer'|'candidate', to: string, payload: unknown) => void} relay
 * @property {() => {audio: MediaStreamTrack|null, video: MediaStreamTrack|null, screen: MediaStreamTrack|null, stream: MediaStream}} localMedia
 * @property {(p: RemoteParticipant, type: string, detail: Record<string, unknown>) => void} emit
 */

/** Data channel IDs, negotiated out of band so both sides may create them. */
export const CHAT_CHANNEL_ID = 0;
export const FILE_CHANNEL_ID = 1;

/**
 * How long the participant who was in the room first waits for the
 * newcomer's offer before offering itself.
 */
const OFFER_FALLBACK_MS = 2500;

/**
 * How long a connection may stay disconnected before ICE is restarted (the
 * polite side waits twice as long). Same as the Go SDK.
 */
const RESTART_GRACE_MS = 2000;

/**
 * How long after connecting the camera is still sent at full resolution
 * (holdResolution), before the browser's own adaptation takes over.
 */
const HOLD_RESOLUTION_MS = 2000;

/**
 * Sends the camera at its full resolution from the first frame. Chrome's
 * bandwidth estimate starts at 300 kbit/s, and with its default
 * degradation preference it drops the first frames of an HD camera as too
 * large for that, stepping the resolution down and reconfiguring the
 * encoder for each: the first frame of a 720p camera left about 150 ms
 * after the connection was up, at 320×180. With maintain-resolution there
 * is no such initial frame dropping. HOLD_RESOLUTION_MS after connecting,
 * RemoteParticipant.releaseResolution restores the browser's default, so
 * that congestion or CPU load lower the resolution as usual.
 * @param {RTCRtpSender} sender
 * @returns {boolean} whether it applies
 */
function holdResolution(sender) {
  try {
    const params = sender.getParameters();
    if (params.degradationPreference) return false; // chosen by someone else
    params.degradationPreference = 'maintain-resolution';
    sender.setParameters(params).catch(() => {});
    return true;
  } catch {
    return false; // not supported: the browser's default applies
  }
}

/**
 * A remote participant. Its events ("update", "tracks",
 * "connectionstatechange", "stats") are also re-dispatched on the Room
 * with {participant} in the detail.
 */
export class RemoteParticipant extends EventTarget {
  /**
   * @param {PeerHost} host
   * @param {ParticipantInfo} info
   */
  constructor(host, info) {
    super();
    this.host = host;
    /** Server-assigned participant ID. */
    this.id = info.id;
    /** Display name. */
    this.name = info.name;
    /** @type {MediaState} */
    this.state = { ...info.state };
    /** Unix ms. */
    this.joinedAt = info.joined_at;
    /** True while the server says its signaling connection is down. */
    this.reconnecting = !!info.reconnecting;
    /** Whether the participant is a host of the room (may lock it, admit, remove, mute). */
    this.isHost = !!info.host;
    /** Of the two, the participant whose ID sorts lower is polite. */
    this.polite = host.selfId < this.id;
    /**
     * Camera and microphone of the participant, as one stream for a
     * <video> element. Tracks appear once negotiated.
     */
    this.stream = new MediaStream();
    /** The participant's screen share, or null. @type {MediaStream|null} */
    this.screenStream = null;
    /** @type {RTCPeerConnectionState} */
    this.connectionState = 'new';
    /** @type {PeerStats|null} Latest stats sample. */
    this.stats = null;
    /** @type {Quality} */
    this.quality = 'unknown';

    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {RTCRtpTransceiver|null} */
    this.audioTx = null;
    /** @type {RTCRtpTransceiver|null} */
    this.videoTx = null;
    /** @type {RTCRtpTransceiver|null} */
    this.screenTx = null;
    /** @type {RTCDataChannel|null} */
    this.chatChannel = null;
    /** @type {FileChannel|null} */
    this.files = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.closed = false;
    /** Serializes signaling work so descriptions are applied in order. */
    this.chain = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout>|undefined} ICE restart due */
    this.restartTimer = undefined;
    /** How many ICE restarts this side started. */
    this.iceRestarts = 0;
    /** @type {string[]} chat messages waiting for the channel to open */
    this.outbox = [];
    /** @type {import('./stats.js').StatsCounters|null} */
    this.counters = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.fallbackTimer = undefined;
    /**
     * Settles when the initiator's first offer and its first ICE candidate
     * have been handed to the server (or the offer failed, or gathering
     * ended without a candidate); null for the side that waits for an
     * offer.
     * @type {Promise<void>|null}
     */
    this.offerSent = null;
    /** @type {(() => void)|null} settles the wait for the first candidate */
    this.candidateSent = null;
    /** @type {RTCRtpSender|null} the camera's sender while holdResolution applies */
    this.heldSender = null;
  }

  /**
   * Creates the peer connection. The initiator (the newcomer) adds its
   * media and channels and makes its offer at once; the other side waits
   * for the offer and answers with its media on the offered transceivers,
   * so neither side creates duplicate m-lines. Perfect negotiation still
   * resolves glare if both offer.
   *
   * For a quick setup: one transport for everything (max-bundle: every
   * browser and pion bundle), and a candidate pool, so that the side that
   * waits for the offer gathers its candidates (STUN and TURN included)
   * while the offer is on its way, and trickles them the moment it
   * answers.
   * @param {boolean} initiator
   */
  start(initiator) {
    if (this.pc) return;
    const pc = new RTCPeerConnection({
      iceServers: this.host.iceServers,
      iceTransportPolicy: this.host.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
      iceCandidatePoolSize: 1,
    });
    this.pc = pc;
    pc.onnegotiationneeded = () => this.negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.host.relay('candidate', this.id, candidate.toJSON());
      const sent = this.candidateSent;
      this.candidateSent = null;
      sent?.();
    };
    pc.ontrack = () => queueMicrotask(() => this.refreshRemoteTracks());
    pc.onconnectionstatechange = () => this.onConnectionState();
    if (initiator) {
      this.addOwnMedia();
      // Offer now rather than on negotiationneeded: that event is a task,
      // queued behind whatever the page does next (an app builds its call
      // view when the join resolves). Its own offer is then moot: the
      // browser fires it only if this offer left something to negotiate.
      const candidate = new Promise((resolve) => { this.candidateSent = () => resolve(undefined); });
      this.offerSent = this.negotiate().then(() => (this.pc?.localDescription ? candidate : undefined));
    } else {
      this.fallbackTimer = setTimeout(() => {
        if (!this.closed && this.pc && !this.pc.remoteDescription && !this.audioTx) this.addOwnMedia();
      }, OFFER_FALLBACK_MS);
    }
  }

  /** Adds own transceivers and data channels; triggers negotiationneeded. */
  addOwnMedia() {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    const m = this.host.localMedia();
    const streams = [m.stream];
    this.audioTx = pc.addTransceiver(m.audio || 'audio', { direction: 'sendrecv', streams });
    this.videoTx = pc.addTransceiver(m.video || 'video', { direction: 'sendrecv', streams });
    if (holdResolution(this.videoTx.sender)) this.heldSender = this.videoTx.sender;
    if (m.screen) this.setScreenTrack(m.screen);
    this.openChannels();
  }

  openChannels() {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    if (this.chatChannel) return;
    const chat = pc.createDataChannel('chat', { negotiated: true, id: CHAT_CHANNEL_ID, ordered: true });
    this.chatChannel = chat;
    chat.onopen = () => {
      for (const m of this.outbox) chat.send(m);
      this.outbox = [];
    };
    chat.onmessage = (ev) => this.onChatMessage(ev);
    const file = pc.createDataChannel('file', { negotiated: true, id: FILE_CHANNEL_ID, ordered: true });
    this.files = new FileChannel(file, {
      peerId: this.id, maxBytes: this.host.maxFileBytes,
      onTransfer: (t) => this.host.emit(this, 'filetransfer', { transfer: t }),
    });
  }

  async negotiate() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      if (pc.localDescription) this.host.relay('offer', this.id, pc.localDescription.toJSON());
    } catch (e) {
      this.warn('creating an offer failed', e);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Handles a relayed frame from this participant.
   * @param {'offer'|'answer'|'candidate'} type
   * @param {any} payload
   */
  handleSignal(type, payload) {
    this.chain = this.chain.then(() => this.applySignal(type, payload)).catch((e) => this.warn(`handling ${type} failed`, e));
  }

  /**
   * @param {'offer'|'answer'|'candidate'} type
   * @param {any} payload
   */
  async applySignal(type, payload) {
    if (this.closed) return;
    if (!this.pc) this.start(false);
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    if (type === 'candidate') {
      try {
        await pc.addIceCandidate(payload);
      } catch (e) {
        if (!this.ignoreOffer) throw e;
      }
      return;
    }
    /** @type {RTCSessionDescriptionInit} */
    const desc = { type, sdp: payload && payload.sdp };
    const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
    const collision = type === 'offer' && !readyForOffer;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    if (type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale
    this.settingRemoteAnswer = type === 'answer';
    try {
      await pc.setRemoteDescription(desc); // rolls back our offer if we are polite
    } finally {
      this.settingRemoteAnswer = false;
    }
    if (type === 'offer') {
      clearTimeout(this.fallbackTimer);
      // Answer at once: replaceTrack does not change the answer, so the
      // tracks are attached meanwhile, and the candidates queued behind
      // this offer need not wait for them either.
      const attached = this.adoptTransceivers();
      this.openChannels();
      await pc.setLocalDescription();
      if (pc.localDescription) this.host.relay('answer', this.id, pc.localDescription.toJSON());
      this.refreshRemoteTracks();
      Promise.all(attached).catch((e) => this.warn('sending own media failed', e));
      return;
    }
    this.refreshRemoteTracks();
  }

  /**
   * After a remote offer: sends own camera and microphone on the first
   * offered audio and video transceivers, dropping own unnegotiated ones
   * (left over from a rolled-back offer). Directions and streams are set
   * at once; the returned promises settle when the tracks are attached.
   * @returns {Promise<void>[]}
   */
  adoptTransceivers() {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    const m = this.host.localMedia();
    /** @type {Promise<void>[]} */
    const attached = [];
    for (const kind of /** @type {const} */ (['audio', 'video'])) {
      const key = kind === 'audio' ? 'audioTx' : 'videoTx';
      const own = this[key];
      if (own && own.mid !== null) continue;
      const offered = pc.getTransceivers().find((t) => t.mid !== null && !isStopped(t) &&
        t.receiver.track.kind === kind && t !== this.screenTx && t !== this.audioTx && t !== this.videoTx);
      if (!offered) continue;
      if (own) own.stop();
      offered.direction = 'sendrecv';
      attached.push(offered.sender.replaceTrack(m[kind]));
      if (typeof offered.sender.setStreams === 'function') offered.sender.setStreams(m.stream);
      if (kind === 'video' && holdResolution(offered.sender)) this.heldSender = offered.sender;
      this[key] = offered;
    }
    return attached;
  }

  /** Ends holdResolution: the browser's default degradation preference. */
  releaseResolution() {
    const sender = this.heldSender;
    this.heldSender = null;
    if (!sender || this.closed) return;
    try {
      const params = sender.getParameters();
      if (params.degradationPreference !== 'maintain-resolution') return;
      delete params.degradationPreference;
      sender.setParameters(params).catch(() => {});
    } catch {
      // A stopped transceiver (replaced in a glare): nothing to restore.
    }
  }

  /** Rebuilds stream and screenStream from the negotiated transceivers. */
  refreshRemoteTracks() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    /** @type {MediaStreamTrack[]} */
    const camera = [];
    /** @type {MediaStreamTrack|null} */
    let screen = null;
    for (const t of pc.getTransceivers()) {
      if (t.mid === null || isStopped(t)) continue;
      const dir = t.currentDirection;
      const receiving = dir === 'sendrecv' || dir === 'recvonly';
      if (!receiving) continue;
      const track = t.receiver.track;
      if (track.kind === 'audio') {
        if (t === this.audioTx || !camera.some((x) => x.kind === 'audio')) camera.push(track);
      } else if (t === this.videoTx || (!this.videoTx && !camera.some((x) => x.kind === 'video'))) {
        camera.push(track);
      } else if (!screen) {
        screen = track;
      }
    }
    let changed = false;
    for (const old of this.stream.getTracks()) {
      if (!camera.includes(old)) { this.stream.removeTrack(old); changed = true; }
    }
    for (const t of camera) {
      if (!this.stream.getTracks().includes(t)) { this.stream.addTrack(t); changed = true; }
    }
    const oldScreen = this.screenStream ? this.screenStream.getVideoTracks()[0] : null;
    if (oldScreen !== screen) {
      this.screenStream = screen ? new MediaStream([screen]) : null;
      changed = true;
    }
    if (changed) this.host.emit(this, 'tracks', {});
  }

  /**
   * Sends a track in place of the current one, without renegotiation.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async replaceTrack(kind, track) {
    const tx = kind === 'audio' ? this.audioTx : this.videoTx;
    if (tx && !isStopped(tx)) await tx.sender.replaceTrack(track);
  }

  /**
   * Starts or stops sending a screen share. Starting adds (or reuses) a
   * second video transceiver, which renegotiates.
   * @param {MediaStreamTrack|null} track
   */
  setScreenTrack(track) {
    const pc = this.pc;
    if (!pc || this.closed) return;
    if (track) {
      let tx = this.screenTx;
      if (!tx || isStopped(tx)) {
        // Reuse the transceiver the other side shares its screen on, if any.
        tx = pc.getTransceivers().find((t) => t.mid !== null && !isStopped(t) && t.receiver.track.kind === 'video' &&
          t !== this.videoTx && !t.sender.track) || null;
        if (!tx) tx = pc.addTransceiver('video', { direction: 'sendrecv' });
        this.screenTx = tx;
      }
      tx.direction = 'sendrecv';
      tx.sender.replaceTrack(track).catch((e) => this.warn('screen share failed', e));
    } else if (this.screenTx && !isStopped(this.screenTx)) {
      this.screenTx.sender.replaceTrack(null).catch(() => {});
      this.screenTx.direction = 'recvonly';
    }
  }

  onConnectionState() {
    const pc = this.pc;
    if (!pc) return;
    this.connectionState = pc.connectionState;
    this.host.emit(this, 'connectionstatechange', { state: pc.connectionState });
    clearTimeout(this.restartTimer);
    if (pc.connectionState === 'connected' && this.heldSender) {
      const sender = this.heldSender;
      setTimeout(() => { if (this.heldSender === sender) this.releaseResolution(); }, HOLD_RESOLUTION_MS);
    }
    if (pc.connectionState === 'failed' && this.polite === false) {
      // The impolite side restarts ICE so only one side does.
      this.restartIce();
    } else if (pc.connectionState === 'disconnected' || pc.connectionState === 'failed') {
      // A broken path (a link cut, a network change). Browsers take about
      // 30 s to declare "failed"; restart after a short grace instead. The
      // impolite side acts first, the polite side later if nothing
      // recovered; perfect negotiation settles a clash.
      const grace = RESTART_GRACE_MS * (this.polite ? 2 : 1);
      this.restartTimer = setTimeout(() => {
        if (this.pc === pc && (pc.connectionState === 'disconnected' || pc.connectionState === 'failed')) {
          this.restartIce();
        }
      }, grace);
    }
  }

  /**
   * Restarts ICE now if the media goes through a TURN relay of ours: after
   * resuming on another server (a cluster node stopped or died), whose TURN
   * server the old relay does not survive.
   */
  async restartIfRelayed() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    let relayed = false;
    try {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local && local.candidateType === 'relay') relayed = true;
      });
    } catch { return; }
    if (relayed && this.pc === pc) this.restartIce();
  }

  /**
   * Restarts ICE: new credentials and candidates, same media. Safe to call
   * on either side; perfect negotiation resolves a clash.
   */
  restartIce() {
    if (!this.pc || this.closed) return;
    this.iceRestarts++;
    this.pc.restartIce();
  }

  /**
   * Sends a chat message to this participant.
   * @param {unknown} msg JSON-serializable
   */
  sendMessage(msg) {
    const s = JSON.stringify(msg);
    if (this.chatChannel && this.chatChannel.readyState === 'open') this.chatChannel.send(s);
    else this.outbox.push(s);
  }

  /** @param {MessageEvent} ev */
  onChatMessage(ev) {
    /** @type {any} */
    let m;
    try { m = JSON.parse(String(ev.data)); } catch { return; }
    if (m && m.type === 'chat' && typeof m.text === 'string') {
      this.host.emit(this, 'chat', { text: m.text.slice(0, 10000), ts: Number(m.ts) || Date.now() });
    } else if (m && m.type === 'data') {
      this.host.emit(this, 'message', { data: m.data });
    }
  }

  /**
   * Sends a file to this participant.
   * @param {File|Blob} file
   * @returns {FileTransfer}
   */
  sendFile(file) {
    if (!this.files) throw new PeercallError('not_connected', `Not connected to ${this.name || 'this participant'} yet.`);
    return this.files.send(file);
  }

  /**
   * Current audio level of the participant's microphone, 0 to 1, from the
   * RTP audio level header (cheap: no getStats).
   * @returns {number}
   */
  audioLevel() {
    const rx = this.audioTx ? this.audioTx.receiver : null;
    if (!rx || this.state.audio_muted) return 0;
    const src = rx.getSynchronizationSources();
    if (!src.length) return 0;
    const s = src[0];
    // Chrome stamps sources in epoch ms; the spec in performance time.
    const now = s.timestamp > 1e12 ? Date.now() : performance.now();
    if (now - s.timestamp > 1000) return 0;
    return s.audioLevel || 0;
  }

  /**
   * Samples statistics, updates `stats` and `quality`, and returns them.
   * @returns {Promise<PeerStats|null>}
   */
  async sampleStats() {
    if (!this.pc || this.closed) return null;
    const report = await this.pc.getStats();
    const { stats, counters } = reduceStats(report, this.counters);
    this.counters = counters;
    if (this.connectionState !== 'connected') stats.quality = this.connectionState === 'failed' ? 'poor' : 'unknown';
    this.stats = stats;
    this.quality = stats.quality;
    this.host.emit(this, 'stats', { stats });
    return stats;
  }

  /**
   * The safety code of the connection to this participant (see
   * docs/security.md): compare it with the one the participant sees. Null
   * until the connection is up.
   * @returns {Promise<string|null>}
   */
  async safetyCode() {
    if (!this.pc || this.closed) return null;
    return safetyCodeOf(this.pc);
  }

  /** @param {ParticipantInfo} info */
  update(info) {
    this.name = info.name;
    this.state = { ...info.state };
    this.reconnecting = !!info.reconnecting;
    this.isHost = !!info.host;
  }

  /** Closes the connection. */
  close() {
    clearTimeout(this.restartTimer);
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.fallbackTimer);
    if (this.pc) this.pc.close();
    this.connectionState = 'closed';
    if (this.files) this.files.failAll(new PeercallError('file_failed', `${this.name || 'The participant'} left.`));
  }

  /**
   * @param {string} what
   * @param {unknown} err
   */
  warn(what, err) {
    if (!this.closed) console.warn(`peercall: ${this.name || this.id}: ${what}:`, err);
  }
}

/**
 * @param {RTCRtpTransceiver} t
 * @returns {boolean}
 */
function isStopped(t) {
  return t.direction === 'stopped' || t.currentDirection === 'stopped';
}
