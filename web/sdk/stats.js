// @ts-check
/**
 * Connection statistics from RTCPeerConnection.getStats, reduced to the
 * numbers people understand: round-trip time, packet loss, bitrate, frames.
 * @module
 */

/**
 * @typedef {'good'|'fair'|'poor'|'unknown'} Quality
 */

/**
 * One sample of a peer connection's statistics. Rates are over the interval
 * since the previous sample.
 * @typedef {object} PeerStats
 * @property {number} timestamp ms since the epoch
 * @property {number|null} rttMs round-trip time of the selected candidate pair
 * @property {number} lossPercent packets lost / expected on inbound RTP, 0–100
 * @property {number} inKbps received bitrate, all media
 * @property {number} outKbps sent bitrate, all media
 * @property {number} framesDecoded total video frames decoded (camera and screen)
 * @property {number} framesPerSecond inbound camera video frames per second
 * @property {number} frameWidth inbound camera video width, 0 if none
 * @property {number} frameHeight
 * @property {string} candidateType local candidate type of the selected pair: host, srflx, prflx or relay
 * @property {Quality} quality
 */

/**
 * Cumulative counters kept between samples.
 * @typedef {object} StatsCounters
 * @property {number} t
 * @property {number} bytesIn
 * @property {number} bytesOut
 * @property {number} packetsIn
 * @property {number} packetsLost
 */

/**
 * Reduces a getStats report to PeerStats, using prev (the counters of the
 * previous sample, or null) for rates.
 * @param {RTCStatsReport} report
 * @param {StatsCounters|null} prev
 * @returns {{stats: PeerStats, counters: StatsCounters}}
 */
export function reduceStats(report, prev) {
  let bytesIn = 0, bytesOut = 0, packetsIn = 0, packetsLost = 0;
  let framesDecoded = 0, fps = 0, width = 0, height = 0;
  let rttMs = /** @type {number|null} */ (null);
  let remoteRtt = /** @type {number|null} */ (null);
  let candidateType = '';
  /** @type {Map<string, any>} */
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pairId = '';
  for (const s of byId.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  }
  for (const s of byId.values()) {
    switch (s.type) {
      case 'inbound-rtp':
        bytesIn += s.bytesReceived || 0;
        packetsIn += s.packetsReceived || 0;
        packetsLost += Math.max(0, s.packetsLost || 0);
        if (s.kind === 'video') {
          framesDecoded += s.framesDecoded || 0;
          if ((s.frameWidth || 0) >= width) {
            width = s.frameWidth || 0;
            height = s.frameHeight || 0;
            fps = s.framesPerSecond || 0;
          }
        }
        break;
      case 'outbound-rtp':
        bytesOut += s.bytesSent || 0;
        break;
      case 'remote-inbound-rtp':
        if (typeof s.roundTripTime === 'number') remoteRtt = s.roundTripTime * 1000;
        break;
      case 'candidate-pair':
        if ((pairId && s.id === pairId) || (!pairId && s.nominated && s.state === 'succeeded')) {
          if (typeof s.currentRoundTripTime === 'number') rttMs = s.currentRoundTripTime * 1000;
          const local = byId.get(s.localCandidateId);
          if (local) candidateType = local.candidateType || '';
        }
        break;
    }
  }
  if (rttMs === null) rttMs = remoteRtt;
  const now = Date.now();
  const counters = { t: now, bytesIn, bytesOut, packetsIn, packetsLost };
  let inKbps = 0, outKbps = 0, lossPercent = 0;
  if (prev && now > prev.t) {
    const dt = (now - prev.t) / 1000;
    inKbps = Math.max(0, (bytesIn - prev.bytesIn) * 8 / 1000 / dt);
    outKbps = Math.max(0, (bytesOut - prev.bytesOut) * 8 / 1000 / dt);
    const got = packetsIn - prev.packetsIn;
    const lost = packetsLost - prev.packetsLost;
    if (got + lost > 0) lossPercent = Math.max(0, Math.min(100, 100 * lost / (got + lost)));
  }
  /** @type {PeerStats} */
  const stats = {
    timestamp: now, rttMs, lossPercent, inKbps, outKbps, framesDecoded,
    framesPerSecond: fps, frameWidth: width, frameHeight: height, candidateType,
    quality: 'unknown',
  };
  stats.quality = qualityOf(stats, prev !== null);
  return { stats, counters };
}

/**
 * Grades a sample: good below 150 ms RTT and 2 % loss, fair below 400 ms and
 * 8 %, poor otherwise.
 * @param {PeerStats} s
 * @param {boolean} haveRates whether loss was measured over an interval
 * @returns {Quality}
 */
export function qualityOf(s, haveRates) {
  if (s.rttMs === null && !haveRates) return 'unknown';
  const rtt = s.rttMs ?? 0;
  if (rtt < 150 && s.lossPercent < 2) return 'good';
  if (rtt < 400 && s.lossPercent < 8) return 'fair';
  return 'poor';
}
