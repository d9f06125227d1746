// @ts-check
/**
 * The call: a responsive grid of tiles, screen shares shown large, the
 * control bar, and the side panel (chat, people, stats).
 */
import { PeercallError } from '../sdk/index.js';
import { LevelMeter } from '../sdk/index.js';
import { $, h, icon, setIcon, showView, toast, initials, colorFor, copyText, fillDeviceSelect, noDevice, setSink } from './ui.js';
import { Chat } from './chat.js';
import { StatsPanel } from './statspanel.js';
import { explainMediaErrors } from './prejoin.js';

/** @typedef {import('../sdk/index.js').Room} Room */
/** @typedef {import('../sdk/index.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('./local.js').LocalMedia} LocalMedia */
/** @typedef {{reason: 'left'} | {reason: 'disconnected', error: PeercallError|null}} CallEnd */

/** Speaking threshold on the RTP audio level (linear, 0–1) and how long it holds. */
const SPEAKING_LEVEL = 0.04;
const SPEAKING_HOLD_MS = 500;
/** Tile shape: 4:3 suits most cameras and puts two people side by side. */
const ASPECT = 4 / 3;

/** One video tile: a participant's camera (or avatar) or a screen share. */
class Tile {
  /**
   * @param {string} id participant ID, "self", or "screen:<id>"
   * @param {{self?: boolean, screen?: boolean}} kind
   */
  constructor(id, kind) {
    this.id = id;
    this.video = h('video', { autoplay: '', playsinline: '' });
    if (kind.self) { this.video.muted = true; this.video.classList.add('mirror'); }
    if (kind.screen) this.video.muted = true; // screen shares carry no audio
    this.avatar = h('div', { class: 'avatar big', 'aria-hidden': 'true' });
    this.novideo = h('div', { class: 'novideo' }, [this.avatar]);
    this.label = h('span', { class: 'label' });
    this.mic = icon('mic-off', 'mic-off');
    this.name = h('span', { class: 'tile-name' }, [this.mic, this.label]);
    this.quality = h('span', { class: 'quality', 'data-q': 'unknown', role: 'img', 'aria-label': 'Connection quality unknown' }, [h('i'), h('i'), h('i')]);
    this.status = h('div', { class: 'tile-status', hidden: '' }, [h('span')]);
    const bar = h('div', { class: 'tile-bar' }, [this.name]);
    this.el = h('div', {
      class: kind.screen ? 'tile screen' : kind.self ? 'tile self' : 'tile remote',
      'data-peer': id, role: 'group',
    }, [this.video, this.novideo, bar, this.status]);
    if (!kind.self && !kind.screen) this.el.append(this.quality);
    if (kind.screen) this.novideo.hidden = true;
    this.speakingUntil = 0;
  }

  /** @param {MediaStream|null} stream */
  setStream(stream) {
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    this.play();
  }

  play() {
    if (!this.video.srcObject) return;
    this.video.play().catch((e) => {
      if (e && e.name === 'NotAllowedError') {
        // Autoplay with sound needs a click; show one button for all tiles.
        const prompt = $('sound-prompt');
        prompt.hidden = false;
        $('sound-enable').onclick = () => {
          prompt.hidden = true;
          for (const v of document.querySelectorAll('#view-call video')) /** @type {HTMLVideoElement} */ (v).play().catch(() => {});
        };
      }
    });
  }

  /**
   * @param {object} s
   * @param {string} s.name
   * @param {string} [s.initialsOf] name for the avatar, if not name
   * @param {boolean} s.audioMuted
   * @param {boolean} s.videoOff
   */
  render(s) {
    this.label.textContent = s.name;
    this.el.setAttribute('aria-label', s.name);
    this.mic.style.display = s.audioMuted ? '' : 'none';
    this.el.dataset.audioMuted = String(s.audioMuted);
    this.el.dataset.videoMuted = String(s.videoOff);
    this.novideo.hidden = !s.videoOff;
    this.avatar.textContent = initials(s.initialsOf || s.name);
    this.avatar.style.background = colorFor(s.initialsOf || s.name);
  }

  /** @param {string} q */
  setQuality(q) {
    this.quality.dataset.q = q;
    this.quality.setAttribute('aria-label', `Connection ${q === 'unknown' ? 'quality unknown' : q}`);
    this.quality.title = this.quality.getAttribute('aria-label') || '';
  }

  /** @param {string} text empty hides it */
  setStatus(text) {
    this.status.hidden = !text;
    this.el.dataset.status = text ? text.replace('…', '').toLowerCase() : '';
    /** @type {HTMLElement} */ (this.status.firstElementChild).textContent = text;
  }

  /** @param {boolean} on */
  setSpeaking(on) {
    const now = performance.now();
    if (on) this.speakingUntil = now + SPEAKING_HOLD_MS;
    this.el.classList.toggle('speaking', now < this.speakingUntil);
  }
}

/**
 * Runs the call view until the user leaves or the server connection ends.
 * @param {Room} room
 * @param {LocalMedia} local
 * @returns {Promise<CallEnd>}
 */
export function runCall(room, local) {
  showView('call');
  const link = `${location.origin}/r/${room.name}`;
  $('call-room').textContent = room.name;
  $('invite-url', HTMLInputElement).value = link;
  const grid = $('grid'), screens = $('screens'), stage = $('stage');
  grid.replaceChildren();
  screens.replaceChildren();

  /** @type {Map<string, Tile>} */
  const tiles = new Map();
  /** @type {Map<string, Tile>} */
  const screenTiles = new Map();
  /** @type {Set<string>} participants that were connected once */
  const everConnected = new Set();
  const self = new Tile('self', { self: true });
  self.el.classList.add('self');
  grid.append(self.el);

  // Side panel
  const panel = $('panel');
  /** @type {'chat'|'people'|'stats'|''} */
  let openTab = '';
  const chat = new Chat(room, () => openTab === 'chat', (n) => {
    const b = $('chat-badge');
    b.hidden = n === 0;
    b.textContent = String(n);
    $('ctl-chat').setAttribute('aria-label', n ? `Chat, ${n} unread` : 'Chat');
  });
  const statsPanel = new StatsPanel();
  /** @param {'chat'|'people'|'stats'|''} tab */
  const setTab = (tab) => {
    openTab = tab;
    panel.hidden = !tab;
    for (const t of /** @type {const} */ (['chat', 'people', 'stats'])) {
      $(`tab-${t}`).setAttribute('aria-selected', String(t === tab));
      $(`panel-${t}`).hidden = t !== tab;
      $(`ctl-${t}`).setAttribute('aria-expanded', String(t === tab));
    }
    if (tab === 'chat') { chat.clearUnread(); $('chat-input').focus(); }
  };
  for (const t of /** @type {const} */ (['chat', 'people', 'stats'])) {
    $(`tab-${t}`).onclick = () => setTab(t);
    $(`ctl-${t}`).onclick = () => setTab(openTab === t ? '' : t);
  }
  $('panel-close').onclick = () => setTab('');
  setTab('');

  // Tiles: the largest 4:3 tiles that fit n in the stage; flex-wrap
  // centers a short last row. The grid's size comes from the
  // ResizeObserver, which runs after layout: reading it here (clientWidth,
  // getComputedStyle) would force a layout in the middle of setting up the
  // call.
  let W = 0, H = 0, gap = 0;
  const fit = () => {
    if (W <= 0 && H <= 0) return; // not laid out yet: the observer fits it
    // With one other person, the self-view floats in a corner (pip) and
    // the other person fills the stage.
    const n = grid.children.length - (stage.classList.contains('pip') ? 1 : 0);
    // Portrait stages (phones) get portrait tiles.
    const aspect = H > W ? 1 / ASPECT : ASPECT;
    let best = { w: 0, cols: 1 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * aspect);
      if (w > best.w) best = { w, cols };
    }
    grid.style.setProperty('--tile-w', `${Math.floor(best.w)}px`);
    grid.style.setProperty('--tile-h', `${Math.floor(best.w / aspect)}px`);
  };
  const resize = new ResizeObserver((entries) => {
    const box = entries[entries.length - 1].contentRect;
    W = box.width;
    H = box.height;
    gap = parseFloat(getComputedStyle(grid).columnGap) || 0; // style is clean here
    fit();
  });
  resize.observe(grid);
  const layout = () => {
    const n = grid.children.length;
    grid.dataset.count = String(n);
    stage.classList.toggle('presenting', screenTiles.size > 0);
    stage.classList.toggle('pip', screenTiles.size === 0 && n === 2);
    fit();
    screens.hidden = screenTiles.size === 0;
    $('invite').hidden = room.participants.size > 0;
    const people = room.participants.size + 1;
    $('call-count').textContent = `${people} ${people === 1 ? 'person' : 'people'}`;
    document.title = `${people > 1 ? `(${people}) ` : ''}${room.name} · peercall`;
  };

  const renderSelf = () => {
    const cur = /** @type {MediaStream|null} */ (self.video.srcObject);
    // A new stream only for a new track: resetting srcObject flickers.
    if ((cur ? cur.getVideoTracks()[0] : null) !== local.video) {
      self.setStream(local.video ? new MediaStream([local.video]) : null);
    }
    self.render({ name: `${room.displayName} (you)`, initialsOf: room.displayName, audioMuted: !local.micOn || !local.audio, videoOff: !local.video });
  };

  /** @param {RemoteParticipant} p */
  const tileFor = (p) => {
    let t = tiles.get(p.id);
    if (!t) {
      t = new Tile(p.id, {});
      tiles.set(p.id, t);
      grid.append(t.el);
      setSink(t.video, local.speakerId);
      t.setStream(p.stream);
    }
    return t;
  };

  /** @param {RemoteParticipant} p */
  const renderPeer = (p) => {
    const t = tileFor(p);
    const hasVideo = p.stream.getVideoTracks().length > 0;
    t.render({ name: p.name || 'Guest', audioMuted: p.state.audio_muted, videoOff: p.state.video_muted || !hasVideo });
    renderConnection(p);
    renderScreens();
    renderPeople();
    layout();
  };

  /** @param {RemoteParticipant} p */
  const renderConnection = (p) => {
    const t = tileFor(p);
    const s = p.connectionState;
    if (s === 'connected') everConnected.add(p.id);
    if ((s === 'connected' || s === 'closed') && p.reconnecting) t.setStatus('Reconnecting…');
    else if (s === 'connected' || s === 'closed') t.setStatus('');
    else if (everConnected.has(p.id)) t.setStatus(s === 'failed' ? 'Connection lost. Reconnecting…' : 'Reconnecting…');
    else t.setStatus(s === 'failed' ? 'Could not connect. Retrying…' : 'Connecting…');
  };

  const renderScreens = () => {
    /** @type {Map<string, {stream: MediaStream, name: string, self: boolean}>} */
    const want = new Map();
    if (room.screenTrack) want.set('screen:self', { stream: new MediaStream([room.screenTrack]), name: 'Your screen', self: true });
    for (const p of room.participants.values()) {
      if (p.screenStream && p.state.screen_sharing) {
        want.set(`screen:${p.id}`, { stream: p.screenStream, name: `${p.name || 'Guest'}'s screen`, self: false });
      }
    }
    for (const [id, t] of screenTiles) {
      if (!want.has(id)) { t.el.remove(); screenTiles.delete(id); }
    }
    for (const [id, w] of want) {
      let t = screenTiles.get(id);
      if (!t) {
        t = new Tile(id, { screen: true });
        if (w.self) t.el.append(h('div', { class: 'tile-badge', text: 'You are presenting' }));
        screenTiles.set(id, t);
        screens.append(t.el);
      }
      const cur = /** @type {MediaStream|null} */ (t.video.srcObject);
      if (!cur || cur.getVideoTracks()[0] !== w.stream.getVideoTracks()[0]) t.setStream(w.stream);
      t.render({ name: w.name, audioMuted: false, videoOff: false });
    }
    layout();
  };

  /**
   * A small button for a list row.
   * @param {string} action data-action, for tests and restoring focus
   * @param {string} text
   * @param {string} aria
   * @param {() => void} onclick
   * @param {{cls?: string, disabled?: boolean}} [o]
   */
  const rowButton = (action, text, aria, onclick, o = {}) => {
    const b = h('button', { class: `btn tiny ${o.cls || ''}`, type: 'button', 'aria-label': aria, title: aria, 'data-action': action, text });
    b.disabled = !!o.disabled;
    b.onclick = onclick;
    return b;
  };

  /**
   * Replaces a list's rows, keeping keyboard focus on the same button.
   * @param {HTMLElement} list
   * @param {HTMLElement[]} items
   */
  const replaceRows = (list, items) => {
    const f = document.activeElement;
    const key = f instanceof HTMLElement && list.contains(f) && f.dataset.action ? [f.closest('li')?.dataset.peer, f.dataset.action] : null;
    list.replaceChildren(...items);
    if (key) {
      // The same button, else another of the row, else of the list.
      const row = list.querySelector(`li[data-peer="${CSS.escape(key[0] || '')}"]`);
      const usable = (/** @type {Element|null|undefined} */ b) => b instanceof HTMLButtonElement && !b.disabled;
      const candidates = [row?.querySelector(`[data-action="${key[1]}"]`), ...(row ? row.querySelectorAll('button') : []), ...list.querySelectorAll('button')];
      const next = candidates.find(usable);
      if (next instanceof HTMLElement) next.focus(); else $('ctl-people').focus();
    }
  };

  const renderPeople = () => {
    const list = $('people-list');
    const amHost = room.isHost;
    /** @type {HTMLElement[]} */
    const items = [];
    /**
     * @param {string} name
     * @param {import('../sdk/signaling.js').MediaState} st
     * @param {string} id
     * @param {boolean} isHost
     * @param {string} [avatarName]
     */
    const item = (name, st, id, isHost, avatarName = name) => {
      const av = h('span', { class: 'avatar', text: initials(avatarName), 'aria-hidden': 'true' });
      av.style.background = colorFor(avatarName);
      const mic = icon(st.audio_muted ? 'mic-off' : 'mic', st.audio_muted ? 'off' : '');
      const cam = icon(st.video_muted ? 'cam-off' : 'cam', st.video_muted ? 'off' : '');
      const desc = `${name}${isHost ? ', host' : ''}${st.audio_muted ? ', muted' : ''}${st.video_muted ? ', camera off' : ''}${st.screen_sharing ? ', sharing screen' : ''}`;
      /** @type {(Node|string)[]} */
      const row = [av, h('span', { class: 'pname', text: name })];
      if (isHost) row.push(h('span', { class: 'host-tag', text: 'Host', 'aria-hidden': 'true' }));
      row.push(h('span', { class: 'pstate' }, [mic, cam]));
      if (amHost && id !== 'self') {
        row.push(h('span', { class: 'pactions' }, [
          rowButton('mute', 'Mute', st.audio_muted ? `${name} is muted` : `Mute ${name}`, () => room.mute(id), { disabled: st.audio_muted }),
          rowButton('remove', 'Remove', `Remove ${name} from the call`, () => room.remove(id), { cls: 'danger' }),
        ]));
      }
      return h('li', { 'data-peer': id, 'aria-label': desc }, row);
    };
    items.push(item(`${room.displayName} (you)`, room.state, 'self', amHost, room.displayName));
    for (const p of room.participants.values()) items.push(item(p.name || 'Guest', p.state, p.id, p.isHost));
    replaceRows(list, items);
    renderHost();
  };

  // Host controls: the lock, the lobby (cards and a list), muting.
  const lockBtn = $('ctl-lock');
  /** @type {Map<string, HTMLElement>} knock cards by participant ID */
  const knockCards = new Map();
  const renderHost = () => {
    const amHost = room.isHost;
    lockBtn.hidden = !amHost;
    lockBtn.setAttribute('aria-pressed', String(room.locked));
    lockBtn.classList.toggle('on', room.locked);
    lockBtn.setAttribute('aria-label', room.locked ? 'Unlock the room' : 'Lock the room: new people wait until you let them in');
    lockBtn.title = room.locked ? 'The room is locked. Click to let anyone with the link join.' : 'Lock the room';
    label(lockBtn).textContent = room.locked ? 'Unlock' : 'Lock';
    setIcon(lockBtn, room.locked ? 'lock' : 'unlock');
    const badge = $('call-locked');
    badge.hidden = !room.locked;
    badge.setAttribute('aria-label', 'This room is locked: new people wait until a host lets them in');
    badge.title = badge.getAttribute('aria-label') || '';
    $('host-tools').hidden = !amHost || room.participants.size === 0;
    const knocks = amHost ? [...room.knocks.values()] : [];
    $('lobby').hidden = knocks.length === 0;
    replaceRows($('lobby-list'), knocks.map((k) => {
      const name = k.name || 'Guest';
      const av = h('span', { class: 'avatar', text: initials(name), 'aria-hidden': 'true' });
      av.style.background = colorFor(name);
      return h('li', { 'data-peer': k.id, 'aria-label': `${name}, waiting to join` }, [av, h('span', { class: 'pname', text: name }),
        h('span', { class: 'pactions' }, [
          h('button', { class: 'btn tiny primary', type: 'button', 'data-action': 'admit', 'aria-label': `Admit ${name}`, text: 'Admit' }),
          h('button', { class: 'btn tiny', type: 'button', 'data-action': 'deny', 'aria-label': `Deny ${name}`, text: 'Deny' }),
        ])]);
    }));
    for (const b of $('lobby-list').querySelectorAll('button')) {
      const id = /** @type {HTMLElement} */ (b.closest('li')).dataset.peer || '';
      /** @type {HTMLButtonElement} */ (b).onclick = () => answerKnock(id, /** @type {HTMLElement} */ (b).dataset.action === 'admit');
    }
    // A card per knock, until answered.
    for (const [id, card] of knockCards) {
      if (!amHost || !room.knocks.has(id)) { card.remove(); knockCards.delete(id); }
    }
    for (const k of knocks) {
      if (knockCards.has(k.id)) continue;
      const name = k.name || 'Guest';
      const admit = h('button', { class: 'btn small primary', type: 'button', 'data-action': 'admit', 'aria-label': `Admit ${name}`, text: 'Admit' });
      const deny = h('button', { class: 'btn small', type: 'button', 'data-action': 'deny', 'aria-label': `Deny ${name}`, text: 'Deny' });
      admit.onclick = () => answerKnock(k.id, true);
      deny.onclick = () => answerKnock(k.id, false);
      const card = h('div', { class: 'knock', role: 'group', 'data-peer': k.id, 'aria-label': `${name} wants to join` }, [
        h('p', {}, [h('strong', { text: name }), ' wants to join this call.']),
        h('div', { class: 'knock-actions' }, [deny, admit]),
      ]);
      knockCards.set(k.id, card);
      $('knocks').append(card);
    }
    const waiting = knocks.length;
    $('ctl-people').setAttribute('aria-label', waiting ? `People, ${waiting} waiting to join` : 'People');
    const pb = $('people-badge');
    pb.hidden = waiting === 0;
    pb.textContent = String(waiting);
  };
  /**
   * @param {string} id
   * @param {boolean} admit
   */
  const answerKnock = (id, admit) => {
    if (admit) room.admit(id); else room.deny(id);
    // The card goes when the server confirms (knockended).
    for (const b of document.querySelectorAll(`[data-peer="${CSS.escape(id)}"] button`)) /** @type {HTMLButtonElement} */ (b).disabled = true;
  };
  lockBtn.onclick = () => {
    if (!room.lock(!room.locked)) toast('Not connected to the server. Try again in a moment.', { error: true });
  };
  $('mute-all').onclick = () => {
    if (room.muteAll()) toast('Asked everyone to mute.');
  };

  // Controls
  const micBtn = $('ctl-mic'), camBtn = $('ctl-cam'), screenBtn = $('ctl-screen');
  /** @param {HTMLElement} b @returns {HTMLElement} */
  const label = (b) => /** @type {HTMLElement} */ (b.querySelector('.ctl-label'));
  const renderControls = () => {
    const micOn = local.micOn && !!local.audio;
    micBtn.classList.toggle('off', !micOn);
    micBtn.setAttribute('aria-label', micOn ? 'Mute microphone (M)' : 'Unmute microphone (M)');
    label(micBtn).textContent = micOn ? 'Mute' : 'Unmute';
    setIcon(micBtn, micOn ? 'mic' : 'mic-off');
    const camOn = !!local.video;
    camBtn.classList.toggle('off', !camOn);
    camBtn.setAttribute('aria-label', camOn ? 'Turn camera off (V)' : 'Turn camera on (V)');
    label(camBtn).textContent = camOn ? 'Stop video' : 'Start video';
    setIcon(camBtn, camOn ? 'cam' : 'cam-off');
    const sharing = !!room.screenTrack;
    screenBtn.classList.toggle('on', sharing);
    screenBtn.setAttribute('aria-label', sharing ? 'Stop sharing your screen' : 'Share your screen');
    label(screenBtn).textContent = sharing ? 'Stop sharing' : 'Share screen';
    renderSelf();
    renderPeople();
  };

  /** @param {'audio'|'video'} kind */
  const mediaHelp = (kind) => {
    const help = kind === 'audio' ? explainMediaErrors(local.audioError, null) : explainMediaErrors(null, local.videoError);
    toast(help ? `${help.title}. ${help.steps[0]}` : `The ${kind === 'audio' ? 'microphone' : 'camera'} could not be started.`, { error: true, ms: 9000 });
  };

  const toggleMic = async () => {
    if (!local.audio) {
      const t = await local.setMic(true);
      if (!t) { mediaHelp('audio'); renderControls(); return; }
      await room.setLocalTrack('audio', t);
      room.setAudioMuted(false);
    } else {
      await local.setMic(!local.micOn);
      room.setAudioMuted(!local.micOn);
    }
    renderControls();
  };
  const toggleCam = async () => {
    if (local.video) {
      await local.setCamera(false);
      await room.setLocalTrack('video', null);
      room.setVideoMuted(true);
    } else {
      const t = await local.setCamera(true);
      if (!t) { mediaHelp('video'); renderControls(); return; }
      await room.setLocalTrack('video', t);
      room.setVideoMuted(false);
    }
    renderControls();
  };
  const toggleScreen = async () => {
    if (room.screenTrack) {
      room.stopScreenShare();
    } else {
      try {
        await room.startScreenShare();
      } catch (e) {
        const name = e && typeof e === 'object' && 'name' in e ? e.name : '';
        if (name !== 'NotAllowedError' && name !== 'AbortError') {
          toast('Screen sharing is not available in this browser.', { error: true });
        }
      }
    }
    renderControls();
    renderScreens();
  };
  micBtn.onclick = toggleMic;
  camBtn.onclick = toggleCam;
  screenBtn.onclick = toggleScreen;
  if (!navigator.mediaDevices || !('getDisplayMedia' in navigator.mediaDevices)) screenBtn.hidden = true;

  const copyLink = async () => {
    toast(await copyText(link) ? 'Link copied. Send it to the people you want to call.' : link);
  };
  $('call-copy').onclick = copyLink;
  $('invite-copy').onclick = copyLink;

  // Settings dialog: device switching mid-call with replaceTrack.
  const dialog = /** @type {HTMLDialogElement} */ ($('settings'));
  const camSel = $('set-camera', HTMLSelectElement), micSel = $('set-microphone', HTMLSelectElement);
  const spkSel = $('set-speaker', HTMLSelectElement), nameIn = $('set-name', HTMLInputElement);
  const renderDevices = () => {
    fillDeviceSelect(camSel, local.devices.cameras, local.cameraId, noDevice(local.videoError, 'camera'));
    fillDeviceSelect(micSel, local.devices.microphones, local.micId, noDevice(local.audioError, 'microphone'));
    fillDeviceSelect(spkSel, local.devices.speakers, local.speakerId, 'System default');
    $('set-speaker-label').hidden = local.devices.speakers.length === 0;
  };
  $('ctl-settings').onclick = () => {
    renderDevices();
    nameIn.value = room.displayName;
    dialog.showModal();
  };
  camSel.onchange = async () => {
    const t = await local.switchDevice('video', camSel.value);
    if (!t) mediaHelp('video');
    if (local.camOn) await room.setLocalTrack('video', t);
    if (!t) room.setVideoMuted(true);
    renderControls();
  };
  micSel.onchange = async () => {
    const t = await local.switchDevice('audio', micSel.value);
    if (!t) mediaHelp('audio');
    await room.setLocalTrack('audio', t);
    if (!t) room.setAudioMuted(true);
    startLocalMeter();
    renderControls();
  };
  spkSel.onchange = () => {
    local.setSpeaker(spkSel.value);
    for (const t of tiles.values()) setSink(t.video, spkSel.value);
  };
  nameIn.onchange = () => {
    const n = nameIn.value.trim().slice(0, 64);
    if (n && n !== room.displayName) { room.setName(n); renderSelf(); renderPeople(); }
  };
  local.addEventListener('devices', () => { if (dialog.open) renderDevices(); });

  // Speaking indicators.
  /** @type {LevelMeter|null} */
  let meter = null;
  const startLocalMeter = () => {
    meter?.close();
    meter = local.audio ? new LevelMeter(local.audio) : null;
  };
  startLocalMeter();
  const speakTimer = setInterval(() => {
    self.setSpeaking(!!meter && local.micOn && meter.level() > 0.45);
    for (const p of room.participants.values()) tiles.get(p.id)?.setSpeaking(p.audioLevel() > SPEAKING_LEVEL);
  }, 150);

  // Keyboard shortcuts, ignored while typing.
  /** @param {KeyboardEvent} ev */
  const onKey = (ev) => {
    const tgt = /** @type {HTMLElement} */ (ev.target);
    if (ev.ctrlKey || ev.metaKey || ev.altKey || tgt.closest('input, textarea, select, dialog')) return;
    if (ev.key === 'm' || ev.key === 'M') { ev.preventDefault(); toggleMic(); }
    if (ev.key === 'v' || ev.key === 'V') { ev.preventDefault(); toggleCam(); }
  };
  document.addEventListener('keydown', onKey);
  micBtn.setAttribute('aria-keyshortcuts', 'M');
  camBtn.setAttribute('aria-keyshortcuts', 'V');

  // Room events.
  /** @param {Event} ev @returns {any} */
  const d = (ev) => /** @type {CustomEvent} */ (ev).detail;
  room.addEventListener('participantjoined', (ev) => {
    const p = d(ev).participant;
    renderPeer(p);
    if (p.name) toast(`${p.name} joined`);
  });
  room.addEventListener('participantleft', (ev) => {
    const p = d(ev).participant;
    const reason = d(ev).reason;
    tiles.get(p.id)?.el.remove();
    tiles.delete(p.id);
    statsPanel.remove(p.id);
    everConnected.delete(p.id);
    renderScreens();
    renderPeople();
    layout();
    if (reason === 'removed') toast(`${p.name || 'Someone'} was removed from the call`);
    else if (reason !== 'reconnect') toast(`${p.name || 'Someone'} left`);
  });
  room.addEventListener('reconnecting', () => { $('call-banner').hidden = false; });
  room.addEventListener('reconnected', () => {
    $('call-banner').hidden = true;
    toast('Reconnected to the server.');
  });
  room.addEventListener('participantupdated', (ev) => renderPeer(d(ev).participant));
  room.addEventListener('tracks', (ev) => {
    const p = d(ev).participant;
    tileFor(p).play();
    renderPeer(p);
  });
  room.addEventListener('connectionstatechange', (ev) => renderConnection(d(ev).participant));
  room.addEventListener('stats', (ev) => {
    const { participant: p, stats } = d(ev);
    tiles.get(p.id)?.setQuality(stats.quality);
    statsPanel.update(p, stats);
  });
  room.addEventListener('screenshareended', () => { renderControls(); renderScreens(); });
  room.addEventListener('muterequest', (ev) => {
    const p = d(ev).participant;
    local.setMic(false);
    renderControls();
    toast(`${p ? p.name || 'A host' : 'A host'} muted you. You can unmute yourself.`);
  });
  room.addEventListener('localstatechange', () => renderControls());
  // The knock cards are in an assertive live region: screen readers say so.
  room.addEventListener('knock', () => renderHost());
  room.addEventListener('knockended', (ev) => {
    const { knock, outcome } = d(ev);
    renderHost();
    if (knock && outcome === 'denied') toast(`${knock.name || 'Guest'} was turned away`);
    if (knock && outcome === 'left') toast(`${knock.name || 'Guest'} stopped waiting`);
  });
  room.addEventListener('roomupdated', (ev) => {
    renderHost();
    const by = room.participants.get(d(ev).by);
    const who = d(ev).by === room.self?.id ? 'You' : by ? by.name || 'A host' : 'A host';
    toast(d(ev).locked ? `${who} locked the room. New people wait until a host lets them in.` : `${who} unlocked the room.`);
  });
  room.addEventListener('hostchange', (ev) => {
    renderPeople();
    if (d(ev).host) toast('You are now a host of this call: you can lock the room, let people in, and mute or remove people.');
  });
  room.addEventListener('reconnected', () => renderPeople());
  room.addEventListener('controlerror', (ev) => {
    const { error, action } = d(ev);
    const what = { lock: 'lock the room', admit: 'let them in', deny: 'turn them away', remove: 'remove them', mute: 'mute them' }[/** @type {string} */ (action)] || 'do that';
    const msg = error.code === 'forbidden' ? `Only a host can ${what}.`
      : error.code === 'room_full' ? 'The room is full, so nobody more can be let in.'
        : error.code === 'unknown_peer' ? 'That person is no longer here.'
          : `Could not ${what}: ${error.message}`;
    toast(msg, { error: true });
    renderHost();
    for (const b of document.querySelectorAll('#knocks button, #lobby-list button')) /** @type {HTMLButtonElement} */ (b).disabled = false;
  });

  // Room.join resolves a moment after the joined frame (once the offers
  // are out), so catch up on what came meanwhile, unseen by the listeners
  // above: a host's mute request, a dropped server connection.
  if (room.state.audio_muted && local.micOn && local.audio) local.setMic(false);
  $('call-banner').hidden = room.status !== 'reconnecting';
  renderControls();
  for (const p of room.participants.values()) renderPeer(p);
  layout();

  return new Promise((resolve) => {
    const finish = (/** @type {CallEnd} */ end) => {
      clearInterval(speakTimer);
      resize.disconnect();
      meter?.close();
      document.removeEventListener('keydown', onKey);
      window.removeEventListener('pagehide', onHide);
      if (dialog.open) dialog.close();
      for (const v of document.querySelectorAll('#view-call video')) /** @type {HTMLVideoElement} */ (v).srcObject = null;
      $('sound-prompt').hidden = true;
      for (const c of knockCards.values()) c.remove();
      knockCards.clear();
      $('call-banner').hidden = true;
      resolve(end);
    };
    const onHide = () => room.leave();
    window.addEventListener('pagehide', onHide);
    $('ctl-leave').onclick = () => { room.leave(); finish({ reason: 'left' }); };
    room.addEventListener('disconnected', (ev) => finish({ reason: 'disconnected', error: d(ev).error }));
  });
}
