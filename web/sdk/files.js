// @ts-check
/**
 * File transfer over a data channel: chunked, with backpressure through
 * bufferedAmountLowThreshold, and progress on both sides.
 *
 * Wire format on the ordered, reliable "file" channel, one transfer at a
 * time per direction:
 *   sender    text  {"t":"start","id","name","size","mime"}
 *   receiver  text  {"t":"accept","id"}  or  {"t":"reject","id","code","message"}
 *   sender    binary chunks of at most CHUNK_BYTES, in order
 *   sender    text  {"t":"end","id"}
 *   receiver  text  {"t":"done","id"} once it has every byte
 * Either side may send {"t":"cancel","id"}. A peer that never accepts (one
 * that does not speak this protocol) fails the transfer after
 * ACCEPT_TIMEOUT_MS without a byte of the file sent.
 * @module
 */
import { PeercallError } from './errors.js';

/** Bytes per data channel message; safe for every WebRTC stack. */
export const CHUNK_BYTES = 16 * 1024;
/** Default largest file, sent or accepted: 100 MiB, held in memory. */
export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const READ_BYTES = 256 * 1024;
/** How long a sender waits for the receiver to accept a file. */
export const ACCEPT_TIMEOUT_MS = 15000;

/** @typedef {'send'|'receive'} TransferDirection */
/** @typedef {'waiting'|'active'|'done'|'cancelled'|'failed'} TransferState */

/**
 * One file on its way to or from one participant. Events: "progress",
 * "done", "error" (detail: {error: PeercallError}), each a CustomEvent.
 */
export class FileTransfer extends EventTarget {
  /**
   * @param {object} init
   * @param {string} init.id
   * @param {TransferDirection} init.direction
   * @param {string} init.peerId the other participant
   * @param {string} init.name
   * @param {number} init.size
   * @param {string} init.mime
   * @param {File|Blob|null} [init.file]
   */
  constructor(init) {
    super();
    this.id = init.id;
    this.direction = init.direction;
    this.peerId = init.peerId;
    this.name = init.name;
    this.size = init.size;
    this.mime = init.mime;
    /** @type {File|Blob|null} */
    this.file = init.file || null;
    /** Bytes delivered so far (sent and drained, or received). */
    this.bytes = 0;
    /** @type {TransferState} */
    this.state = 'waiting';
    /** @type {PeercallError|null} */
    this.error = null;
    /** The received file, once state is "done" on the receiving side. */
    this.blob = /** @type {Blob|null} */ (null);
    /** @type {() => void} */
    this.onCancel = () => {};
  }

  /** Fraction done, 0 to 1. */
  get progress() {
    if (this.state === 'done') return 1;
    return this.size > 0 ? Math.min(1, this.bytes / this.size) : 0;
  }

  /** Stops the transfer on both sides. */
  cancel() {
    if (this.state === 'done' || this.state === 'failed' || this.state === 'cancelled') return;
    this.onCancel();
    this.fail(new PeercallError('file_cancelled', 'The transfer was cancelled.'), 'cancelled');
  }

  /** @param {number} bytes */
  setBytes(bytes) {
    this.bytes = bytes;
    this.dispatchEvent(new CustomEvent('progress'));
  }

  /** @param {Blob|null} blob */
  finish(blob) {
    if (this.state === 'done') return;
    this.state = 'done';
    this.bytes = this.size;
    this.blob = blob;
    this.dispatchEvent(new CustomEvent('progress'));
    this.dispatchEvent(new CustomEvent('done'));
  }

  /**
   * @param {PeercallError} err
   * @param {TransferState} [state]
   */
  fail(err, state = 'failed') {
    if (this.state === 'done' || this.state === 'failed' || this.state === 'cancelled') return;
    this.state = state;
    this.error = err;
    this.dispatchEvent(new CustomEvent('error', { detail: { error: err } }));
  }
}

/**
 * Runs transfers over one data channel to one participant.
 */
export class FileChannel {
  /**
   * @param {RTCDataChannel} dc
   * @param {object} opts
   * @param {string} opts.peerId
   * @param {number} opts.maxBytes largest file accepted or sent
   * @param {(t: FileTransfer) => void} opts.onTransfer called for each new transfer, both directions
   */
  constructor(dc, opts) {
    this.dc = dc;
    this.opts = opts;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER;
    /** @type {FileTransfer[]} */
    this.queue = [];
    /** @type {FileTransfer|null} */
    this.sending = null;
    /** @type {{t: FileTransfer, parts: ArrayBuffer[], bytes: number}|null} */
    this.receiving = null;
    /** @type {Map<string, FileTransfer>} sent, awaiting "done" */
    this.awaiting = new Map();
    /** @type {Map<string, () => void>} transfers waiting for "accept" */
    this.accepting = new Map();
    dc.addEventListener('message', (ev) => this.onMessage(ev));
    dc.addEventListener('open', () => this.pump());
    dc.addEventListener('close', () => this.failAll(new PeercallError('file_failed',
      'The connection closed before the file arrived.')));
  }

  /**
   * Queues a file for sending.
   * @param {File|Blob} file
   * @returns {FileTransfer}
   */
  send(file) {
    const name = /** @type {File} */ (file).name || 'file';
    if (file.size > this.opts.maxBytes) {
      throw new PeercallError('file_too_large',
        `“${name}” is ${formatBytes(file.size)}; the limit is ${formatBytes(this.opts.maxBytes)}.`);
    }
    const t = new FileTransfer({
      id: randomId(), direction: 'send', peerId: this.opts.peerId, name,
      size: file.size, mime: file.type || 'application/octet-stream', file,
    });
    t.onCancel = () => this.sendJSON({ t: 'cancel', id: t.id });
    this.queue.push(t);
    this.opts.onTransfer(t);
    queueMicrotask(() => this.pump());
    return t;
  }

  /** @param {Record<string, unknown>} msg */
  sendJSON(msg) {
    if (this.dc.readyState === 'open') this.dc.send(JSON.stringify(msg));
  }

  async pump() {
    if (this.sending || this.dc.readyState !== 'open') return;
    const t = this.queue.shift();
    if (!t) return;
    if (t.state !== 'waiting') { this.pump(); return; }
    this.sending = t;
    try {
      await this.sendOne(t);
    } catch (e) {
      t.fail(e instanceof PeercallError ? e
        : new PeercallError('file_failed', `Sending “${t.name}” failed.`, { cause: e }));
    }
    this.sending = null;
    this.pump();
  }

  /** @param {FileTransfer} t */
  async sendOne(t) {
    const dc = this.dc;
    const file = /** @type {Blob} */ (t.file);
    t.state = 'active';
    this.awaiting.set(t.id, t);
    const accepted = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ACCEPT_TIMEOUT_MS);
      this.accepting.set(t.id, () => { clearTimeout(timer); resolve(true); });
      t.addEventListener('error', () => { clearTimeout(timer); resolve(false); });
    });
    this.sendJSON({ t: 'start', id: t.id, name: t.name, size: t.size, mime: t.mime });
    const ok = await accepted;
    this.accepting.delete(t.id);
    if (t.state !== 'active') return;
    if (!ok) {
      this.awaiting.delete(t.id);
      throw new PeercallError('file_failed', 'The other side did not accept the file: their app may not support file transfer.');
    }
    let offset = 0;
    const report = () => t.setBytes(Math.max(0, offset - dc.bufferedAmount));
    const timer = setInterval(report, 200);
    try {
      while (offset < t.size) {
        const buf = await file.slice(offset, offset + READ_BYTES).arrayBuffer();
        for (let i = 0; i < buf.byteLength; i += CHUNK_BYTES) {
          if (t.state !== 'active') return;
          if (dc.readyState !== 'open') throw new PeercallError('file_failed', 'The connection closed while sending.');
          if (dc.bufferedAmount > HIGH_WATER) await drained(dc);
          if (t.state !== 'active') return;
          dc.send(buf.slice(i, i + CHUNK_BYTES));
          offset += Math.min(CHUNK_BYTES, buf.byteLength - i);
        }
        report();
      }
      this.sendJSON({ t: 'end', id: t.id });
      while (dc.bufferedAmount > 0 && dc.readyState === 'open' && t.state === 'active') {
        await drained(dc, 0);
        report();
      }
    } finally {
      clearInterval(timer);
    }
  }

  /** @param {MessageEvent} ev */
  onMessage(ev) {
    if (typeof ev.data !== 'string') {
      const r = this.receiving;
      if (!r || r.t.state !== 'active') return;
      const chunk = /** @type {ArrayBuffer} */ (ev.data);
      r.parts.push(chunk);
      r.bytes += chunk.byteLength;
      if (r.bytes > r.t.size) {
        this.receiving = null;
        r.t.fail(new PeercallError('file_failed', 'The sender sent more bytes than announced.'));
        this.sendJSON({ t: 'cancel', id: r.t.id });
        return;
      }
      r.t.setBytes(r.bytes);
      return;
    }
    /** @type {any} */
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    switch (m.t) {
      case 'start': {
        const t = new FileTransfer({
          id: String(m.id), direction: 'receive', peerId: this.opts.peerId,
          name: String(m.name || 'file').slice(0, 255), size: Number(m.size) || 0,
          mime: String(m.mime || 'application/octet-stream'),
        });
        t.onCancel = () => { this.sendJSON({ t: 'cancel', id: t.id }); this.receiving = null; };
        this.opts.onTransfer(t);
        if (t.size > this.opts.maxBytes) {
          const msg = `“${t.name}” is ${formatBytes(t.size)}; the limit is ${formatBytes(this.opts.maxBytes)}.`;
          this.sendJSON({ t: 'reject', id: t.id, code: 'file_too_large', message: msg });
          t.fail(new PeercallError('file_too_large', msg));
          return;
        }
        t.state = 'active';
        this.receiving = { t, parts: [], bytes: 0 };
        this.sendJSON({ t: 'accept', id: t.id });
        break;
      }
      case 'accept': {
        const go = this.accepting.get(m.id);
        if (go) go();
        break;
      }
      case 'end': {
        const r = this.receiving;
        if (!r || r.t.id !== m.id) return;
        this.receiving = null;
        if (r.bytes !== r.t.size) {
          r.t.fail(new PeercallError('file_failed', `Only ${r.bytes} of ${r.t.size} bytes arrived.`));
          return;
        }
        this.sendJSON({ t: 'done', id: r.t.id });
        r.t.finish(new Blob(r.parts, { type: r.t.mime }));
        break;
      }
      case 'done': {
        const t = this.awaiting.get(m.id);
        this.awaiting.delete(m.id);
        if (t) t.finish(null);
        break;
      }
      case 'reject':
      case 'cancel': {
        const t = this.awaiting.get(m.id) || (this.receiving && this.receiving.t.id === m.id ? this.receiving.t : null);
        this.awaiting.delete(m.id);
        if (this.receiving && this.receiving.t.id === m.id) this.receiving = null;
        if (!t) return;
        if (m.t === 'reject') {
          t.fail(new PeercallError(String(m.code || 'file_failed'), String(m.message || 'The file was refused.')));
        } else {
          t.fail(new PeercallError('file_cancelled', 'The other side cancelled the transfer.'), 'cancelled');
        }
        break;
      }
    }
  }

  /** @param {PeercallError} err */
  failAll(err) {
    for (const t of this.queue) t.fail(err);
    this.queue = [];
    for (const t of this.awaiting.values()) t.fail(err);
    this.awaiting.clear();
    if (this.receiving) this.receiving.t.fail(err);
    this.receiving = null;
  }
}

/**
 * Resolves when the channel's buffered amount falls to the low-water mark
 * (or the given threshold), or the channel closes.
 * @param {RTCDataChannel} dc
 * @param {number} [threshold]
 * @returns {Promise<void>}
 */
function drained(dc, threshold) {
  return new Promise((resolve) => {
    const limit = threshold ?? dc.bufferedAmountLowThreshold;
    if (dc.bufferedAmount <= limit || dc.readyState !== 'open') { resolve(); return; }
    const done = () => {
      clearInterval(poll);
      dc.removeEventListener('bufferedamountlow', done);
      dc.removeEventListener('close', done);
      resolve();
    };
    // bufferedamountlow fires on crossing the threshold; the poll covers
    // waiting for a full drain (threshold 0).
    const poll = setInterval(() => { if (dc.bufferedAmount <= limit || dc.readyState !== 'open') done(); }, 50);
    dc.addEventListener('bufferedamountlow', done);
    dc.addEventListener('close', done);
  });
}

/** @returns {string} */
function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Formats a byte count for people: 1.5 MB, 320 KB.
 * @param {number} n
 * @returns {string}
 */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}
