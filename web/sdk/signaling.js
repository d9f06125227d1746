// @ts-check
/**
 * The signaling connection: one WebSocket to the server's /ws, speaking
 * protocol v1 (protocol/protocol.go). It knows nothing of WebRTC.
 * @module
 */
import { PeercallError } from './errors.js';

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * @typedef {object} MediaState
 * @property {boolean} audio_muted
 * @property {boolean} video_muted
 * @property {boolean} screen_sharing
 */

/**
 * @typedef {object} ParticipantInfo
 * @property {string} id
 * @property {string} name
 * @property {MediaState} state
 * @property {number} joined_at Unix milliseconds.
 * @property {boolean} [reconnecting] the server is waiting for its
 *   signaling connection to come back; media may still flow
 * @property {boolean} [host] may lock the room, admit and deny knockers,
 *   remove participants and ask them to mute
 */

/**
 * @typedef {object} JoinedFrame
 * @property {'joined'} type
 * @property {number} version
 * @property {string} room
 * @property {ParticipantInfo} self
 * @property {ParticipantInfo[]} participants
 * @property {RTCIceServer[]} ice_servers
 * @property {number} [ice_servers_expire_at]
 * @property {number} ping_interval_ms
 * @property {number} max_participants
 * @property {string} [resume_token] send as join.resume to come back after a drop
 * @property {boolean} [resumed] join.resume was honoured: same ID, keep peer connections
 * @property {number} [resume_grace_ms] how long the server waits for a dropped participant
 * @property {boolean} [locked] new joiners wait in the lobby for a host
 */

/**
 * Any frame the server sends. Fields present depend on `type`.
 * @typedef {{type: string, [key: string]: any}} ServerFrame
 */

/**
 * @typedef {object} SignalingOptions
 * @property {string} url WebSocket URL, e.g. wss://host/ws.
 * @property {string} room
 * @property {string} name
 * @property {MediaState} state
 * @property {string} [token] Access token when the server requires one.
 * @property {string} [resume] resume_token of an earlier `joined`, to come
 *   back as the same participant after the connection dropped.
 * @property {number} [joinTimeoutMs] How long to wait for `joined`; default 15000.
 *   Waiting in the lobby of a locked room (a `lobby` frame) is not limited.
 */

/**
 * Signaling dispatches one event per server frame, named after the frame
 * type ("peer_joined", "offer", ...), as a CustomEvent whose detail is the
 * frame. It also dispatches "close" with detail {error: PeercallError|null}
 * once, when the connection ends (error is null after close()).
 */
export class Signaling extends EventTarget {
  /** @param {SignalingOptions} opts */
  constructor(opts) {
    super();
    this.opts = opts;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {JoinedFrame|null} */
    this.joined = null;
    this.closed = false;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.pingTimer = undefined;
    this.lastHeard = 0;
    this.nextID = 1;
  }

  /**
   * Opens the socket and joins. Resolves with the `joined` frame; rejects
   * with a PeercallError (room_full, unauthorized, connection_failed, ...).
   * @returns {Promise<JoinedFrame>}
   */
  connect() {
    return new Promise((resolve, reject) => {
      let settled = false;
      /** @param {PeercallError} err */
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.shutdown(err);
        reject(err);
      };
      const timer = setTimeout(() => fail(new PeercallError('timeout',
        'The server did not answer in time.')), this.opts.joinTimeoutMs || 15000);
      let ws;
      try {
        ws = new WebSocket(this.opts.url);
      } catch (e) {
        fail(new PeercallError('connection_failed', 'Could not connect to the server.', { cause: e }));
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        /** @type {Record<string, unknown>} */
        const join = {
          type: 'join', version: PROTOCOL_VERSION, room: this.opts.room,
          name: this.opts.name, state: this.opts.state,
        };
        if (this.opts.token) join.token = this.opts.token;
        if (this.opts.resume) join.resume = this.opts.resume;
        this.send(join);
      };
      ws.onmessage = (ev) => {
        this.lastHeard = Date.now();
        /** @type {ServerFrame} */
        let frame;
        try {
          frame = JSON.parse(String(ev.data));
        } catch {
          return; // not ours to crash on; the server only sends JSON
        }
        if (!settled) {
          if (frame.type === 'joined') {
            settled = true;
            clearTimeout(timer);
            this.joined = /** @type {JoinedFrame} */ (frame);
            this.startPing(this.joined.ping_interval_ms || 10000);
            resolve(this.joined);
            return;
          }
          if (frame.type === 'error') {
            fail(errorFromFrame(frame));
            return;
          }
          if (frame.type === 'lobby') {
            // A locked room: wait for a host as long as it takes.
            clearTimeout(timer);
          }
        }
        if (frame.type === 'error' && frame.fatal) {
          this.shutdown(errorFromFrame(frame));
          return;
        }
        if (frame.type === 'pong') return;
        this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
      };
      ws.onclose = (ev) => {
        if (!settled) {
          fail(new PeercallError('connection_failed',
            `Could not connect to the server (WebSocket closed, code ${ev.code}).`));
          return;
        }
        this.shutdown(new PeercallError('connection_lost',
          'The connection to the server was lost.'));
      };
      ws.onerror = () => { /* onclose follows with the details */ };
    });
  }

  /** @param {number} interval */
  startPing(interval) {
    this.lastHeard = Date.now();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * interval) {
        this.shutdown(new PeercallError('connection_lost',
          'The server stopped answering.'));
        return;
      }
      this.send({ type: 'ping' });
    }, interval);
  }

  /**
   * Sends one frame. Frames sent while the socket is not open are dropped:
   * signaling state is re-established by joining again.
   * @param {Record<string, unknown>} frame
   * @returns {boolean} whether the frame was handed to the socket
   */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a relay frame (offer, answer or candidate) to one participant.
   * @param {'offer'|'answer'|'candidate'} type
   * @param {string} to
   * @param {unknown} payload
   */
  relay(type, to, payload) {
    return this.send({ type, to, payload });
  }

  /**
   * Sends an update of the own name and state (both whole).
   * @param {string} name
   * @param {MediaState} state
   */
  update(name, state) {
    return this.send({ type: 'update', id: `u${this.nextID++}`, name, state });
  }

  /** Leaves the room politely and closes the socket. */
  close() {
    if (this.closed) return;
    this.send({ type: 'leave' });
    this.shutdown(null);
  }

  /** @param {PeercallError|null} err */
  shutdown(err) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    const ws = this.ws;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      // Closing right after send still delivers queued frames.
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this.dispatchEvent(new CustomEvent('close', { detail: { error: err } }));
  }
}

/**
 * @param {ServerFrame} frame
 * @returns {PeercallError}
 */
function errorFromFrame(frame) {
  return new PeercallError(String(frame.code || 'internal'),
    String(frame.message || 'The server refused the request.'),
    { fatal: !!frame.fatal, ref: frame.ref });
}
