// @ts-check
/**
 * Room: join a peercall room and talk to everyone in it, peer to peer.
 * @module
 */
import { PeercallError, validRoomName } from './errors.js';
import { Signaling } from './signaling.js';
import { RemoteParticipant } from './participant.js';
import { DEFAULT_MAX_FILE_BYTES } from './files.js';

/**
 * How long Room.join waits, at most, for the offers to those already in the
 * room, and their first ICE candidates, to be on their way before it
 * resolves.
 */
const OFFER_WAIT_MS = 200;

/** @typedef {import('./signaling.js').MediaState} MediaState */
/** @typedef {import('./signaling.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./files.js').FileTransfer} FileTransfer */

/**
 * @typedef {object} JoinOptions
 * @property {string} room Room name: 1–64 characters from [A-Za-z0-9._~-].
 * @property {string} [name] Display name shown to the others.
 * @property {string} [server] Base URL of the peercall server, e.g.
 *   "https://call.example.com". Default: the page's origin.
 * @property {MediaStream|null} [stream] Camera and microphone to publish.
 *   Its first audio and first video track are sent. May be null or have
 *   no tracks: you can still receive, chat and send files.
 * @property {Partial<MediaState>} [state] Initial media state. audio_muted
 *   and video_muted default to whether the stream lacks that kind of track.
 * @property {string} [token] Access token when the server requires one.
 * @property {number} [maxFileBytes] Largest file sent or accepted; default 100 MiB.
 * @property {number} [statsIntervalMs] How often to sample stats; default
 *   1000, 0 turns sampling off.
 * @property {(message: string) => void} [onLobby] Called when the room is
 *   locked and the join waits for a host to admit it.
 * @property {boolean} [relayOnly] Send media only through TURN relays
 *   (iceTransportPolicy "relay"): the others never learn this device's IP
 *   addresses, at the cost of the relay's extra hop and the server's
 *   bandwidth. Needs a TURN server (the embedded one is on by default).
 */

/**
 * A joined room. Create it with Room.join(). Events (all CustomEvent, the
 * participant in detail.participant where there is one):
 * - participantjoined, participantleft {reason}, participantupdated
 * - tracks: a participant's stream or screenStream changed
 * - connectionstatechange {state}: RTCPeerConnectionState of a participant
 * - chat {text, ts}: detail.participant is null for own messages
 * - message {data}: an app message sent with send()
 * - filetransfer {transfer}: a new FileTransfer, sent or received
 * - stats {stats}: a PeerStats sample
 * - localstatechange {state}: own media state changed
 * - muterequest: a host muted us (already applied)
 * - knock {knock}: (hosts) someone waits in the lobby; detail.knock is
 *   their ParticipantInfo. Answer with admit() or deny().
 * - knockended {id, outcome, by, knock}: a knock is over: admitted,
 *   denied or left (the knocker gave up)
 * - roomupdated {locked, by}: the room was locked or unlocked (by: the
 *   host's participant ID)
 * - hostchange {host}: we became a host (or stopped being one); other
 *   participants' host flag changes come as participantupdated
 * - controlerror {error, action}: the server refused a host action
 *   (error.code forbidden for non-hosts, unknown_peer, room_full, ...)
 * - screenshareended: the browser's "Stop sharing" ended the share
 * - reconnecting {error}: the server connection dropped; the SDK is
 *   resuming the session (peer connections and media carry on)
 * - reconnected {resumed}: back; resumed false means the server had
 *   forgotten us and every peer connection was made anew
 * - disconnected {error}: the server connection ended for good; the room
 *   is closed
 */
export class Room extends EventTarget {
  /**
   * Joins a room. Rejects with a PeercallError: invalid_room, room_full,
   * unauthorized, connection_failed, timeout, ...
   * @param {JoinOptions} opts
   * @returns {Promise<Room>}
   */
  static async join(opts) {
    const room = new Room(opts);
    await room.connect();
    return room;
  }

  /** @param {JoinOptions} opts */
  constructor(opts) {
    super();
    if (!validRoomName(opts.room)) {
      throw new PeercallError('invalid_room',
        'Room names are 1 to 64 letters, digits or the characters . _ ~ -');
    }
    this.opts = opts;
    /** Room name. */
    this.name = opts.room;
    /** Own display name. */
    this.displayName = opts.name || '';
    const stream = opts.stream || null;
    /** @type {MediaStreamTrack|null} */
    this.audioTrack = stream ? stream.getAudioTracks()[0] || null : null;
    /** @type {MediaStreamTrack|null} */
    this.videoTrack = stream ? stream.getVideoTracks()[0] || null : null;
    /** @type {MediaStreamTrack|null} */
    this.screenTrack = null;
    /** The published camera and microphone, for a self-view. */
    this.localStream = new MediaStream([this.audioTrack, this.videoTrack].filter((t) => t !== null));
    /** @type {MediaState} */
    this.state = {
      audio_muted: opts.state?.audio_muted ?? !this.audioTrack,
      video_muted: opts.state?.video_muted ?? !this.videoTrack,
      screen_sharing: false,
    };
    if (this.audioTrack) this.audioTrack.enabled = !this.state.audio_muted;
    if (this.videoTrack) this.videoTrack.enabled = !this.state.video_muted;
    /** @type {Map<string, RemoteParticipant>} */
    this.participants = new Map();
    /** Own participant info from the server. @type {ParticipantInfo|null} */
    this.self = null;
    /** Room capacity. */
    this.maxParticipants = 0;
    /** @type {'connecting'|'joined'|'reconnecting'|'closed'} */
    this.status = 'connecting';
    /** Token to resume this session after a drop. */
    this.resumeToken = '';
    this.resumeGraceMs = 0;
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {Signaling|null} */
    this.signaling = null;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.statsTimer = undefined;
    /** Whether the room is locked: new joiners wait in the lobby. */
    this.locked = false;
    /**
     * (Hosts) people waiting in the lobby, by participant ID, oldest first.
     * @type {Map<string, ParticipantInfo>}
     */
    this.knocks = new Map();
    /** Why the server connection ended for good, once it has. @type {PeercallError|null} */
    this.closeError = null;
    /** @type {Map<string, string>} request ID → host action, for errors */
    this.pendingControl = new Map();
    this.controlSeq = 0;
  }

  /** Whether we are a host of the room. */
  get isHost() {
    return !!this.self?.host;
  }

  /** @returns {string} */
  wsURL() {
    const base = new URL(this.opts.server || location.origin);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = base.pathname.replace(/\/$/, '') + '/ws';
    base.search = '';
    return base.toString();
  }

  async connect() {
    const sig = this.newSignaling('');
    const joined = await sig.connect();
    this.attach(sig);
    this.applyJoined(joined);
    const interval = this.opts.statsIntervalMs ?? 1000;
    if (interval > 0) this.statsTimer = setInterval(() => this.sampleStats(), interval);
    // Resolve once the offers to the others, and their first candidates,
    // are sent: what the page does with the joined room (building a call
    // view, its first layout) would otherwise run first and hold them up
    // on the main thread, and the others could not start connecting.
    // The candidates come at once: the candidate pool gathered them while
    // the offer was made.
    const offers = [...this.participants.values()].map((p) => p.offerSent).filter((o) => o !== null);
    if (offers.length) {
      /** @type {ReturnType<typeof setTimeout>|undefined} */
      let timer;
      await Promise.race([Promise.all(offers), new Promise((r) => { timer = setTimeout(r, OFFER_WAIT_MS); })]);
      clearTimeout(timer);
      if (this.status === 'closed') {
        throw this.closeError || new PeercallError('connection_lost', 'The connection to the server was lost.');
      }
    }
  }

  /**
   * @param {string} resume resume token, or ''
   * @param {number} [timeoutMs]
   * @returns {Signaling}
   */
  newSignaling(resume, timeoutMs) {
    const sig = new Signaling({
      url: this.wsURL(), room: this.name, name: this.displayName,
      state: this.state, token: this.opts.token, resume, joinTimeoutMs: timeoutMs,
    });
    this.signaling = sig;
    // The server tells a (re)joining host about the lobby afresh.
    this.knocks.clear();
    sig.addEventListener('lobby', (ev) => this.opts.onLobby?.(String(detail(ev).message || '')));
    return sig;
  }

  /**
   * Routes a joined Signaling's events to the room.
   * @param {Signaling} sig
   */
  attach(sig) {
    sig.addEventListener('peer_joined', (ev) => this.onPeerJoined(detail(ev).participant));
    sig.addEventListener('peer_left', (ev) => this.onPeerLeft(detail(ev).id, detail(ev).reason));
    sig.addEventListener('peer_updated', (ev) => this.onPeerUpdated(detail(ev).participant));
    for (const type of ['offer', 'answer', 'candidate']) {
      sig.addEventListener(type, (ev) => this.onRelay(type, detail(ev).from, detail(ev).payload));
    }
    sig.addEventListener('error', (ev) => this.onServerError(detail(ev)));
    sig.addEventListener('knock', (ev) => this.onKnock(detail(ev).participant));
    sig.addEventListener('knock_ended', (ev) => {
      const { id, outcome, by } = detail(ev);
      const knock = this.knocks.get(id) || null;
      this.knocks.delete(id);
      this.emit('knockended', { id, outcome, by: by || '', knock });
    });
    sig.addEventListener('room_updated', (ev) => {
      this.locked = !!detail(ev).locked;
      this.emit('roomupdated', { locked: this.locked, by: detail(ev).by || '' });
    });
    sig.addEventListener('mute_request', (ev) => {
      // A host asked everyone (or us) to mute: obey; the user may unmute.
      if (!this.state.audio_muted) this.setAudioMuted(true);
      this.emit('muterequest', { participant: this.participants.get(detail(ev).from) || null });
    });
    sig.addEventListener('close', (ev) => { if (sig === this.signaling) this.onSignalingClosed(detail(ev).error); });
  }

  /**
   * Takes in a joined frame: the first one, or one after a resume.
   * @param {import('./signaling.js').JoinedFrame} joined
   */
  applyJoined(joined) {
    const wasHost = this.isHost;
    this.self = joined.self;
    this.locked = !!joined.locked;
    if (this.isHost !== wasHost) this.emit('hostchange', { host: this.isHost });
    this.displayName = joined.self.name;
    const turnMoved = turnURLs(this.iceServers) !== turnURLs(joined.ice_servers || []);
    this.iceServers = joined.ice_servers || [];
    this.maxParticipants = joined.max_participants;
    this.resumeToken = joined.resume_token || '';
    this.resumeGraceMs = joined.resume_grace_ms || 0;
    this.status = 'joined';
    const others = joined.participants || [];
    if (joined.resumed) {
      // Same session: keep the peer connections, catch up on who came and
      // went, and refresh the TURN credentials of the connections.
      const ids = new Set(others.map((p) => p.id));
      for (const p of [...this.participants.values()]) {
        if (!ids.has(p.id)) this.onPeerLeft(p.id, 'left');
      }
      for (const info of others) {
        const p = this.participants.get(info.id);
        if (p) {
          p.update(info);
          p.host.iceServers = this.iceServers;
          try { p.pc?.setConfiguration({ ...p.pc.getConfiguration(), iceServers: this.iceServers }); } catch { /* keep the old ones */ }
          // Resumed through another server: a relayed call moves to its
          // TURN server now, not after the old relay's silence is noticed.
          if (turnMoved) p.restartIfRelayed();
          this.emit('participantupdated', { participant: p });
        } else {
          this.addParticipant(info, true);
        }
      }
      return;
    }
    // A new session (the first join, or the server forgot us): everyone
    // else treats us as a newcomer, so we offer to all of them.
    for (const p of [...this.participants.values()]) this.onPeerLeft(p.id, 'reconnect');
    for (const info of others) this.addParticipant(info, true);
  }

  /**
   * Whether a dropped connection is worth resuming.
   * @param {PeercallError|null} err
   * @returns {boolean}
   */
  resumable(err) {
    return !!err && !!this.resumeToken &&
      ['connection_lost', 'timeout', 'server_shutdown', 'slow_consumer', 'unavailable'].includes(err.code);
  }

  /**
   * Reconnects after a drop, as the same participant when the server
   * still knows us. Peer connections (and so the media) carry on meanwhile.
   * @param {PeercallError} cause
   */
  async resume(cause) {
    this.status = 'reconnecting';
    this.emit('reconnecting', { error: cause });
    const deadline = Date.now() + Math.max(this.resumeGraceMs, 5000) + 2000;
    let delay = 250;
    while (this.status === 'reconnecting' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4000);
      if (this.status !== 'reconnecting') return;
      const sig = this.newSignaling(this.resumeToken, 5000);
      let joined;
      try {
        joined = await sig.connect();
      } catch (e) {
        const err = e instanceof PeercallError ? e : new PeercallError('connection_failed', String(e));
        if (this.resumable(err) || err.code === 'connection_failed') continue;
        cause = err; // refused for good: room_full, removed, unauthorized, ...
        break;
      }
      if (this.status !== 'reconnecting') { sig.close(); return; }
      this.attach(sig);
      this.applyJoined(joined);
      this.emit('reconnected', { resumed: !!joined.resumed });
      return;
    }
    if (this.status !== 'reconnecting') return;
    this.close();
    this.closeError = cause;
    this.emit('disconnected', { error: cause });
  }

  /**
   * @param {ParticipantInfo} info
   * @param {boolean} initiator
   * @returns {RemoteParticipant}
   */
  addParticipant(info, initiator) {
    const existing = this.participants.get(info.id);
    if (existing) return existing;
    const self = /** @type {ParticipantInfo} */ (this.self);
    /** @type {import('./participant.js').PeerHost} */
    const host = {
      selfId: self.id,
      iceServers: this.iceServers,
      relayOnly: !!this.opts.relayOnly,
      maxFileBytes: this.opts.maxFileBytes || DEFAULT_MAX_FILE_BYTES,
      relay: (type, to, payload) => { this.signaling?.relay(type, to, payload); },
      localMedia: () => ({
        audio: this.audioTrack, video: this.videoTrack, screen: this.screenTrack, stream: this.localStream,
      }),
      emit: (p, type, d) => this.emit(type, { participant: p, ...d }),
    };
    const p = new RemoteParticipant(host, info);
    this.participants.set(p.id, p);
    p.start(initiator);
    this.emit('participantjoined', { participant: p });
    return p;
  }

  /** @param {ParticipantInfo} info */
  onPeerJoined(info) {
    if (!info || !info.id) return;
    const known = this.participants.get(info.id);
    if (known) {
      // Its first offer overtook peer_joined: fill in name and state now.
      known.update(info);
      known.joinedAt = info.joined_at;
      this.emit('participantupdated', { participant: known });
      return;
    }
    this.addParticipant(info, false);
  }

  /**
   * @param {string} id
   * @param {string} reason
   */
  onPeerLeft(id, reason) {
    const p = this.participants.get(id);
    if (!p) return;
    this.participants.delete(id);
    p.close();
    this.emit('participantleft', { participant: p, reason: reason || 'left' });
  }

  /** @param {ParticipantInfo} info */
  onPeerUpdated(info) {
    if (info && this.self && info.id === this.self.id) {
      // About us: the server made us host when the last host left.
      const wasHost = this.isHost;
      this.self = { ...this.self, host: !!info.host };
      if (this.isHost !== wasHost) this.emit('hostchange', { host: this.isHost });
      return;
    }
    const p = this.participants.get(info.id);
    if (!p) return;
    p.update(info);
    this.emit('participantupdated', { participant: p });
  }

  /**
   * @param {string} type
   * @param {string} from
   * @param {unknown} payload
   */
  onRelay(type, from, payload) {
    let p = this.participants.get(from);
    if (!p) {
      p = this.addParticipant({ id: from, name: '', state: { audio_muted: false, video_muted: false, screen_sharing: false }, joined_at: Date.now() }, false);
    }
    p.handleSignal(/** @type {'offer'|'answer'|'candidate'} */ (type), payload);
  }

  /** @param {PeercallError|null} error */
  onSignalingClosed(error) {
    if (this.status !== 'joined') return;
    if (error && this.resumable(error)) {
      this.resume(error);
      return;
    }
    this.close();
    this.closeError = error;
    this.emit('disconnected', { error });
  }

  /** @param {ParticipantInfo} info */
  onKnock(info) {
    if (!info || !info.id) return;
    const known = this.knocks.has(info.id);
    this.knocks.set(info.id, info);
    if (!known) this.emit('knock', { knock: info });
  }

  /** @param {{code?: string, message?: string, ref?: string}} frame */
  onServerError(frame) {
    const action = frame.ref ? this.pendingControl.get(frame.ref) : undefined;
    if (action === undefined) {
      console.warn('peercall: server:', frame.code, frame.message);
      return;
    }
    this.pendingControl.delete(/** @type {string} */ (frame.ref));
    const error = new PeercallError(String(frame.code || 'internal'), String(frame.message || 'The server refused the request.'), { ref: frame.ref });
    this.emit('controlerror', { error, action });
  }

  /**
   * Sends a host action. The server answers only a refusal, which comes
   * as a controlerror event.
   * @param {string} type lock, admit, deny, remove or mute
   * @param {Record<string, unknown>} fields
   * @returns {boolean} whether it was sent (false while disconnected)
   */
  control(type, fields) {
    const id = `c${++this.controlSeq}`;
    this.pendingControl.set(id, type);
    if (this.pendingControl.size > 64) this.pendingControl.delete(/** @type {string} */ (this.pendingControl.keys().next().value));
    return !!this.signaling?.send({ type, id, ...fields });
  }

  /**
   * (Hosts) locks or unlocks the room. While locked, new joiners wait in
   * the lobby (knock events); unlocking lets everyone waiting in.
   * @param {boolean} [locked] default true
   * @returns {boolean} whether the request was sent
   */
  lock(locked = true) {
    return this.control('lock', { locked: !!locked });
  }

  /**
   * (Hosts) lets someone waiting in the lobby in.
   * @param {string} id participant ID from a knock
   * @returns {boolean}
   */
  admit(id) {
    return this.control('admit', { participant: id });
  }

  /**
   * (Hosts) turns someone waiting in the lobby away.
   * @param {string} id participant ID from a knock
   * @returns {boolean}
   */
  deny(id) {
    return this.control('deny', { participant: id });
  }

  /**
   * (Hosts) removes a participant from the room; it cannot resume.
   * @param {string} id
   * @returns {boolean}
   */
  remove(id) {
    return this.control('remove', { participant: id });
  }

  /**
   * (Hosts) asks one participant to mute its microphone.
   * @param {string} id
   * @returns {boolean}
   */
  mute(id) {
    return this.control('mute', { participant: id });
  }

  /**
   * (Hosts) asks everyone else to mute their microphones.
   * @returns {boolean}
   */
  muteAll() {
    return this.control('mute', {});
  }

  async sampleStats() {
    // Not before a connection is first up (or has failed): there is nothing
    // to report yet, and getStats would take CPU from setting it up.
    const due = [...this.participants.values()].filter((p) => p.stats || p.connectionState === 'connected' || p.connectionState === 'failed');
    await Promise.all(due.map((p) => p.sampleStats().catch(() => null)));
  }

  /**
   * @param {string} type
   * @param {Record<string, unknown>} d
   */
  emit(type, d) {
    this.dispatchEvent(new CustomEvent(type, { detail: d }));
  }

  sendState() {
    this.signaling?.update(this.displayName, this.state);
    this.emit('localstatechange', { state: { ...this.state } });
  }

  /**
   * Changes the own display name.
   * @param {string} name
   */
  setName(name) {
    this.displayName = name;
    this.sendState();
  }

  /**
   * Mutes or unmutes the microphone (the track keeps running, sending
   * silence) and tells the others.
   * @param {boolean} muted
   */
  setAudioMuted(muted) {
    this.state.audio_muted = muted;
    if (this.audioTrack) this.audioTrack.enabled = !muted;
    this.sendState();
  }

  /**
   * Turns the camera picture off or on for the others. To release the
   * camera (its light goes off), also call setLocalTrack('video', null).
   * @param {boolean} muted
   */
  setVideoMuted(muted) {
    this.state.video_muted = muted;
    if (this.videoTrack) this.videoTrack.enabled = !muted;
    this.sendState();
  }

  /**
   * Publishes a different microphone or camera track, or none, to everyone
   * without renegotiation (RTCRtpSender.replaceTrack). The caller owns the
   * tracks: stop the old one yourself if you no longer need it.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async setLocalTrack(kind, track) {
    const old = kind === 'audio' ? this.audioTrack : this.videoTrack;
    if (old) this.localStream.removeTrack(old);
    if (track) {
      this.localStream.addTrack(track);
      track.enabled = kind === 'audio' ? !this.state.audio_muted : !this.state.video_muted;
    }
    if (kind === 'audio') this.audioTrack = track; else this.videoTrack = track;
    await Promise.all([...this.participants.values()].map((p) => p.replaceTrack(kind, track)));
  }

  /**
   * Asks the browser for a screen, window or tab and shares it with
   * everyone. Rejects if the user cancels.
   * @param {DisplayMediaStreamOptions} [constraints]
   * @returns {Promise<MediaStreamTrack>}
   */
  async startScreenShare(constraints) {
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints || { video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new PeercallError('media_failed', 'The browser returned no screen picture.');
    this.shareScreenTrack(track);
    return track;
  }

  /**
   * Shares a given video track as the screen share (for example from a
   * canvas). Replaces a running share.
   * @param {MediaStreamTrack} track
   */
  shareScreenTrack(track) {
    if (this.screenTrack && this.screenTrack !== track) this.screenTrack.stop();
    this.screenTrack = track;
    track.addEventListener('ended', () => {
      if (this.screenTrack === track) {
        this.stopScreenShare();
        this.emit('screenshareended', {});
      }
    });
    if ('contentHint' in track) track.contentHint = 'detail';
    for (const p of this.participants.values()) p.setScreenTrack(track);
    this.state.screen_sharing = true;
    this.sendState();
  }

  /** Stops sharing the screen. */
  stopScreenShare() {
    const t = this.screenTrack;
    if (!t) return;
    this.screenTrack = null;
    t.stop();
    for (const p of this.participants.values()) p.setScreenTrack(null);
    this.state.screen_sharing = false;
    this.sendState();
  }

  /**
   * Sends a chat message to everyone. Also dispatched locally as a chat
   * event with participant null.
   * @param {string} text
   */
  sendChat(text) {
    const ts = Date.now();
    for (const p of this.participants.values()) p.sendMessage({ type: 'chat', text, ts });
    this.emit('chat', { participant: null, text, ts });
  }

  /**
   * Sends an app-defined JSON message to everyone, or to one participant.
   * @param {unknown} data
   * @param {string} [to] participant ID
   */
  send(data, to) {
    for (const p of this.participants.values()) {
      if (!to || p.id === to) p.sendMessage({ type: 'data', data });
    }
  }

  /**
   * Sends a file to everyone (or one participant). Throws file_too_large
   * before sending anything if it exceeds the limit.
   * @param {File|Blob} file
   * @param {string} [to] participant ID
   * @returns {FileTransfer[]}
   */
  sendFile(file, to) {
    const limit = this.opts.maxFileBytes || DEFAULT_MAX_FILE_BYTES;
    if (file.size > limit) {
      const name = /** @type {File} */ (file).name || 'The file';
      throw new PeercallError('file_too_large',
        `${name} is too large to send: the limit is ${Math.round(limit / 1024 / 1024)} MB.`);
    }
    const targets = [...this.participants.values()].filter((p) => !to || p.id === to);
    if (!targets.length) throw new PeercallError('not_connected', 'There is nobody to send the file to.');
    return targets.map((p) => p.sendFile(file));
  }

  /** Leaves the room: tells the server, closes every connection. Own tracks are not stopped. */
  leave() {
    this.close();
  }

  close() {
    if (this.status === 'closed') return;
    this.status = 'closed';
    clearInterval(this.statsTimer);
    for (const p of this.participants.values()) p.close();
    this.signaling?.close();
    if (this.screenTrack) this.screenTrack.stop();
  }
}

/**
 * @param {Event} ev
 * @returns {any}
 */
function detail(ev) {
  return /** @type {CustomEvent} */ (ev).detail;
}

/**
 * The TURN URLs of a list of ICE servers, sorted and joined, to compare.
 * @param {RTCIceServer[]} servers
 * @returns {string}
 */
function turnURLs(servers) {
  /** @type {string[]} */
  const out = [];
  for (const s of servers) {
    for (const u of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      if (u.startsWith('turn:') || u.startsWith('turns:')) out.push(u);
    }
  }
  return out.sort().join(' ');
}
