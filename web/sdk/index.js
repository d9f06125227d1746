// @ts-check
/**
 * peercall JS SDK. Plain ES modules; import from /sdk/index.js.
 *
 *   import { Room } from '/sdk/index.js';
 *   const room = await Room.join({ room: 'team-standup', name: 'Ada', stream });
 *
 * @module
 */
export { Room } from './room.js';
export { RemoteParticipant } from './participant.js';
export { Signaling, PROTOCOL_VERSION } from './signaling.js';
export { PeercallError, validRoomName } from './errors.js';
export { FileTransfer, DEFAULT_MAX_FILE_BYTES, CHUNK_BYTES, formatBytes } from './files.js';
export { reduceStats, qualityOf } from './stats.js';
export { safetyCodeFromFingerprints, safetyCodeOf, normalizeFingerprint } from './safety.js';
export { getLocalMedia, listDevices, describeMediaError, videoConstraints, LevelMeter, createRoom } from './media.js';
