package bench

// The JavaScript the browser scenario runs in its pages. Times are epoch
// milliseconds with sub-millisecond resolution (performance.timeOrigin +
// performance.now()), comparable between the pages of one browser.

// callInstrumentJS runs in the app's pages before the app's own scripts
// (Page.addScriptToEvaluateOnNewDocument). It records in
// window.__callbench the click on Join, the first time any
// RTCPeerConnection's ICE state is connected or completed and its
// connection state connected (by wrapping the constructor; the app's own
// handlers are untouched), and, for the first remote video tile, when its
// first frame was shown (requestVideoFrameCallback presentationTime), when
// that frame's packets were received (receiveTime) and its loadeddata
// event. In window.__callbench.events it also keeps the first time of each
// step (PeerConnection created, ICE gathering and connection states, local
// candidates by type, remote tracks, the WebSocket opened, the first
// signaling frame of each type sent and received), for the breakdown, and
// in window.__callbench.longtasks the main thread's long tasks.
const callInstrumentJS = `(() => {
  if (window.__callbench) return;
  const now = () => performance.timeOrigin + performance.now();
  const m = window.__callbench = { click: 0, ice: 0, connected: 0, frame: 0, received: 0, loaded: 0 };
  document.addEventListener('click', (e) => {
    const t = e.target;
    if (!m.click && t instanceof Element && t.closest('#pre-join')) m.click = now();
  }, true);
  // events: the first time of each step, for seeing where the time goes.
  const ev = m.events = {};
  const first = (k) => { if (!ev[k]) ev[k] = now(); };
  const Orig = window.RTCPeerConnection;
  if (Orig) {
    window.RTCPeerConnection = class extends Orig {
      constructor(...args) {
        super(...args);
        first('pc_created');
        this.addEventListener('iceconnectionstatechange', () => {
          const s = this.iceConnectionState;
          first('ice_' + s);
          if (!m.ice && (s === 'connected' || s === 'completed')) m.ice = now();
        });
        this.addEventListener('connectionstatechange', () => {
          first('pc_' + this.connectionState);
          if (!m.connected && this.connectionState === 'connected') m.connected = now();
        });
        this.addEventListener('icegatheringstatechange', () => first('gathering_' + this.iceGatheringState));
        this.addEventListener('icecandidate', (e) => {
          if (e.candidate && e.candidate.candidate) first('local_candidate_' + (e.candidate.type || 'unknown'));
        });
        this.addEventListener('track', (e) => first('track_' + e.track.kind));
      }
    };
  }
  // Long tasks (50 ms or more) on the page's main thread: start and
  // duration.
  m.longtasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) m.longtasks.push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* not supported */ }
  // Signaling: when the socket opened and the first frame of each type
  // was sent and received.
  const OrigWS = window.WebSocket;
  if (OrigWS) {
    // The type without parsing the frame (the app parses it anyway).
    const typeOf = (d) => {
      const i = d.indexOf('"type":"');
      return i < 0 ? '?' : d.slice(i + 8, d.indexOf('"', i + 8));
    };
    window.WebSocket = class extends OrigWS {
      constructor(...args) {
        super(...args);
        first('ws_created');
        this.addEventListener('open', () => first('ws_open'));
        this.addEventListener('message', (e) => { if (typeof e.data === 'string') first('recv_' + typeOf(e.data)); });
      }
      send(d) {
        if (typeof d === 'string') first('sent_' + typeOf(d));
        return super.send(d);
      }
    };
  }
  const seen = new WeakSet();
  const watch = (v) => {
    seen.add(v);
    v.addEventListener('loadeddata', () => { if (!m.loaded) m.loaded = now(); }, { once: true });
    if (!v.requestVideoFrameCallback) return;
    v.requestVideoFrameCallback((t, meta) => {
      if (m.frame) return;
      m.frame = performance.timeOrigin + (meta.presentationTime || t);
      if (meta.receiveTime) m.received = performance.timeOrigin + meta.receiveTime;
    });
  };
  // Watch a remote tile's video as soon as the app gives it a stream (the
  // tile builds its <video> inside the tile element first), at no cost
  // while nothing is assigned; a slow scan catches any other way.
  const remote = (v) => v instanceof HTMLVideoElement && !seen.has(v) && v.closest('.tile.remote');
  const src = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'srcObject');
  if (src && src.set) {
    Object.defineProperty(HTMLMediaElement.prototype, 'srcObject', {
      ...src,
      set(v) {
        src.set.call(this, v);
        if (v && remote(this)) watch(this);
      },
    });
  }
  setInterval(() => {
    for (const v of document.querySelectorAll('.tile.remote video')) if (remote(v)) watch(v);
  }, 100);
})()`

// callBaselineJS defines window.__callbenchBaseline(timeoutMs) in the
// baseline page: two RTCPeerConnections sending the page's camera and
// microphone (opened with the app's constraints and shown in a preview
// before the clock starts, so camera start-up is excluded, and closed
// after), no ICE servers, side 1 offering, offer,
// answer and candidates handed over directly. It resolves to
// {sides: [{ice, connected, frame, received, loaded}, ...], offer_applied,
// answer_applied, error} in ms from just before the PeerConnections are
// created.
const callBaselineJS = `(() => {
  const now = () => performance.timeOrigin + performance.now();
  const place = (v, x, y) => {
    v.muted = true; v.autoplay = true; v.playsInline = true;
    v.style.cssText = 'position:fixed;z-index:10;width:320px;height:240px;left:' + x + 'px;top:' + y + 'px';
    document.body.append(v);
  };
  window.__callbenchBaseline = async (timeoutMs) => {
    // The camera and microphone as the app opens them (web/sdk/media.js
    // videoConstraints), live in a preview before the clock starts.
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
    });
    const pv = document.createElement('video');
    place(pv, 0, 0);
    pv.srcObject = stream;
    await pv.play();
    await new Promise((r) => pv.requestVideoFrameCallback(() => r()));
    const res = [0, 1].map(() => ({ ice: 0, connected: 0, frame: 0, received: 0, loaded: 0 }));
    const videos = [];
    let done = () => {};
    const finished = new Promise((r) => { done = r; });
    const t0 = now();
    const pcs = [new RTCPeerConnection(), new RTCPeerConnection()];
    const ready = [false, false];
    const pending = [[], []];
    pcs.forEach((pc, i) => {
      const other = 1 - i;
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      pc.onicecandidate = (e) => {
        if (!e.candidate) return;
        if (ready[other]) pcs[other].addIceCandidate(e.candidate).catch(() => {});
        else pending[other].push(e.candidate);
      };
      pc.oniceconnectionstatechange = () => {
        const s = pc.iceConnectionState;
        if (!res[i].ice && (s === 'connected' || s === 'completed')) res[i].ice = now();
      };
      pc.onconnectionstatechange = () => {
        if (!res[i].connected && pc.connectionState === 'connected') res[i].connected = now();
      };
      pc.ontrack = (e) => {
        if (e.track.kind !== 'video') return;
        const v = document.createElement('video');
        v.addEventListener('loadeddata', () => { if (!res[i].loaded) res[i].loaded = now(); }, { once: true });
        v.requestVideoFrameCallback((t, meta) => {
          if (res[i].frame) return;
          res[i].frame = performance.timeOrigin + (meta.presentationTime || t);
          if (meta.receiveTime) res[i].received = performance.timeOrigin + meta.receiveTime;
          if (res.every((s) => s.frame)) done();
        });
        place(v, 330 * (i + 1), 0);
        v.srcObject = new MediaStream([e.track]);
        videos.push(v);
        v.play().catch(() => {});
      };
    });
    const flush = (i) => {
      ready[i] = true;
      for (const c of pending[i]) pcs[i].addIceCandidate(c).catch(() => {});
      pending[i] = [];
    };
    let error = '', offerApplied = 0, answerApplied = 0;
    try {
      const offer = await pcs[1].createOffer();
      await pcs[1].setLocalDescription(offer);
      await pcs[0].setRemoteDescription(offer);
      offerApplied = now();
      flush(0);
      const answer = await pcs[0].createAnswer();
      await pcs[0].setLocalDescription(answer);
      await pcs[1].setRemoteDescription(answer);
      answerApplied = now();
      flush(1);
      const timedOut = await Promise.race([finished.then(() => false),
        new Promise((r) => setTimeout(() => r(true), timeoutMs))]);
      if (timedOut) error = 'no first remote frame after ' + timeoutMs + ' ms';
    } catch (e) {
      error = String(e);
    }
    for (const pc of pcs) pc.close();
    for (const v of [...videos, pv]) { v.srcObject = null; v.remove(); }
    for (const t of stream.getTracks()) t.stop();
    const rel = (x) => (x ? x - t0 : 0);
    return {
      sides: res.map((s) => ({ ice: rel(s.ice), connected: rel(s.connected), frame: rel(s.frame), received: rel(s.received), loaded: rel(s.loaded) })),
      offer_applied: rel(offerApplied),
      answer_applied: rel(answerApplied),
      error,
    };
  };
  return true;
})()`
