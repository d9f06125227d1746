// @ts-check
/**
 * The safety code of a peer connection (docs/security.md, version 1): a
 * short code derived from the two DTLS certificates of the connection. Both
 * ends of an untampered connection show the same code; a man in the middle
 * (for example a malicious signaling server swapping fingerprints) cannot
 * make them match.
 * @module
 */

const SAFETY_CODE_PREFIX = 'peercall-safety-code-v1\n';

/**
 * Normalizes a SHA-256 fingerprint: lowercase hex without colons.
 * @param {string} fp e.g. "AB:CD:…"
 * @returns {string}
 */
export function normalizeFingerprint(fp) {
  return fp.replace(/:/g, '').trim().toLowerCase();
}

/**
 * The safety code of two SHA-256 certificate fingerprints (in any order,
 * with or without colons, any case): "04217 88310 51964 00735".
 * @param {string} a
 * @param {string} b
 * @returns {Promise<string>}
 */
export async function safetyCodeFromFingerprints(a, b) {
  const [x, y] = [normalizeFingerprint(a), normalizeFingerprint(b)].sort();
  const text = `${SAFETY_CODE_PREFIX}${x}\n${y}`;
  const h = new DataView(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  const groups = [];
  for (let i = 0; i < 4; i++) groups.push(String(h.getUint32(4 * i, false) % 100000).padStart(5, '0'));
  return groups.join(' ');
}

/**
 * The SHA-256 fingerprint of a certificate stats object, as lowercase hex:
 * its fingerprint when that is SHA-256, else the hash of its DER encoding.
 * @param {any} cert RTCCertificateStats
 * @returns {Promise<string|null>}
 */
async function sha256Fingerprint(cert) {
  if (!cert) return null;
  if (String(cert.fingerprintAlgorithm || '').toLowerCase() === 'sha-256' && cert.fingerprint) {
    return normalizeFingerprint(String(cert.fingerprint));
  }
  if (typeof cert.base64Certificate === 'string' && cert.base64Certificate) {
    return sha256Hex(Uint8Array.from(atob(cert.base64Certificate), (c) => c.charCodeAt(0)));
  }
  return null;
}

/**
 * Lowercase hex SHA-256 of bytes.
 * @param {BufferSource} bytes
 * @returns {Promise<string>}
 */
async function sha256Hex(bytes) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...h].map((v) => v.toString(16).padStart(2, '0')).join('');
}

/**
 * The remote certificate's fingerprint from the connected DTLS transport
 * (RTCDtlsTransport.getRemoteCertificates), for browsers whose stats lack
 * it: Chrome caches certificate stats from a getStats call made before the
 * DTLS handshake, leaving out the remote certificate for good.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<string|null>}
 */
async function remoteFingerprintOfTransport(pc) {
  /** @type {any[]} */
  const transports = [];
  if (typeof pc.getSenders === 'function') for (const s of pc.getSenders()) transports.push(s.transport);
  if (typeof pc.getReceivers === 'function') for (const r of pc.getReceivers()) transports.push(r.transport);
  if (pc.sctp) transports.push(pc.sctp.transport);
  for (const t of transports) {
    if (!t || t.state !== 'connected' || typeof t.getRemoteCertificates !== 'function') continue;
    const certs = t.getRemoteCertificates();
    if (certs && certs.length) return sha256Hex(certs[0]);
  }
  return null;
}

/**
 * The SHA-256 fingerprint of the local description (a=fingerprint).
 * @param {RTCPeerConnection} pc
 * @returns {string|null}
 */
function localFingerprintOfSDP(pc) {
  const sdp = pc.localDescription ? pc.localDescription.sdp : '';
  const m = /^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\s*$/m.exec(sdp || '');
  return m ? normalizeFingerprint(m[1]) : null;
}

/**
 * The safety code of a connected peer connection: from getStats, the
 * certificates of its DTLS-connected transport (the transport's
 * localCertificateId and remoteCertificateId). Where the stats lack one,
 * the remote certificate comes from the DTLS transport and the local
 * fingerprint from the local description. Null until DTLS is up.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<string|null>}
 */
export async function safetyCodeOf(pc) {
  const report = await pc.getStats();
  /** @type {Map<string, any>} */
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  /** @type {any} */
  let transport = null;
  for (const s of byId.values()) {
    if (s.type !== 'transport' || !s.localCertificateId) continue;
    const better = s.dtlsState === 'connected' && (!transport || transport.dtlsState !== 'connected' || (!transport.remoteCertificateId && s.remoteCertificateId));
    if (!transport || better) transport = s;
  }
  if (transport && transport.dtlsState && transport.dtlsState !== 'connected') return null;
  let local = transport ? await sha256Fingerprint(byId.get(transport.localCertificateId)) : null;
  let remote = transport && transport.remoteCertificateId ? await sha256Fingerprint(byId.get(transport.remoteCertificateId)) : null;
  if (!remote) remote = await remoteFingerprintOfTransport(pc);
  if (!local && remote) local = localFingerprintOfSDP(pc);
  if (!local || !remote) return null;
  return safetyCodeFromFingerprints(local, remote);
}
