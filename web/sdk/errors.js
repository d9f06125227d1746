// @ts-check
/**
 * Errors raised by the peercall SDK. Every error has a machine-readable
 * `code`: the signaling protocol's codes (see protocol/protocol.go) plus a
 * few of the SDK's own.
 * @module
 */

/**
 * Error codes. Server codes come from the `error` frame; the SDK adds
 * connection_failed, connection_lost, closed, file_too_large, file_cancelled,
 * file_failed, not_connected and media errors.
 * @typedef {'bad_request'|'unsupported_version'|'not_joined'|'already_joined'|
 *   'room_full'|'unknown_peer'|'unauthorized'|'rate_limited'|'too_large'|
 *   'timeout'|'slow_consumer'|'server_shutdown'|'unavailable'|'internal'|
 *   'invalid_room'|'connection_failed'|'connection_lost'|'closed'|
 *   'file_too_large'|'file_cancelled'|'file_failed'|'not_connected'|
 *   'media_not_allowed'|'media_not_found'|'media_not_readable'|'media_failed'|
 *   string} ErrorCode
 */

/** An error with a stable `code` for programs and a `message` for people. */
export class PeercallError extends Error {
  /**
   * @param {ErrorCode} code
   * @param {string} message
   * @param {{fatal?: boolean, ref?: string, cause?: unknown}} [opts]
   */
  constructor(code, message, opts = {}) {
    super(message);
    this.name = 'PeercallError';
    /** @type {ErrorCode} */
    this.code = code;
    /** True when the server closed the connection because of this error. */
    this.fatal = !!opts.fatal;
    /** The request ID of the frame that caused the error, if any. */
    this.ref = opts.ref || '';
    if (opts.cause !== undefined) {
      /** @type {unknown} */
      this.cause = opts.cause;
    }
  }
}

/**
 * Room names as the server accepts them: 1 to 64 characters from
 * [A-Za-z0-9._~-]. They appear in links as /r/<room>.
 * @param {string} name
 * @returns {boolean}
 */
export function validRoomName(name) {
  return /^[A-Za-z0-9._~-]{1,64}$/.test(name);
}
