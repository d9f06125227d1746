// @ts-check
/**
 * Chat and file transfer in the side panel.
 */
import { formatBytes, PeercallError } from '../sdk/index.js';
import { $, h, icon, toast } from './ui.js';

/** @typedef {import('../sdk/index.js').Room} Room */
/** @typedef {import('../sdk/index.js').FileTransfer} FileTransfer */
/** @typedef {import('../sdk/index.js').RemoteParticipant} RemoteParticipant */

export class Chat {
  /**
   * @param {Room} room
   * @param {() => boolean} isVisible whether the chat panel is open
   * @param {(n: number) => void} onUnread
   */
  constructor(room, isVisible, onUnread) {
    this.room = room;
    this.isVisible = isVisible;
    this.onUnread = onUnread;
    this.unread = 0;
    this.log = $('chat-log');
    this.log.replaceChildren();
    /** @type {Map<string, HTMLElement>} one chat entry per file sent, with a row per recipient */
    this.sendCards = new Map();
    const form = $('chat-form', HTMLFormElement);
    const input = $('chat-input', HTMLInputElement);
    const fileInput = $('chat-file', HTMLInputElement);
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      room.sendChat(text);
      input.value = '';
    };
    $('chat-attach').onclick = () => fileInput.click();
    fileInput.onchange = () => {
      for (const f of Array.from(fileInput.files || [])) this.sendFile(f);
      fileInput.value = '';
    };
    room.addEventListener('chat', (ev) => {
      const d = /** @type {CustomEvent} */ (ev).detail;
      this.addMessage(d.participant, d.text, d.ts);
    });
    room.addEventListener('filetransfer', (ev) => this.addTransfer(/** @type {CustomEvent} */ (ev).detail.transfer));
    // Dropping files anywhere on the call sends them.
    const stage = $('view-call');
    stage.ondragover = (ev) => { ev.preventDefault(); };
    stage.ondrop = (ev) => {
      ev.preventDefault();
      for (const f of Array.from(ev.dataTransfer?.files || [])) this.sendFile(f);
    };
  }

  /** @param {File} f */
  sendFile(f) {
    try {
      this.room.sendFile(f);
    } catch (e) {
      toast(e instanceof PeercallError ? e.message : String(e), { error: true });
    }
  }

  /**
   * @param {RemoteParticipant|null} from
   * @param {string} text
   * @param {number} ts
   */
  addMessage(from, text, ts) {
    const li = h('li', { class: from ? 'msg' : 'msg own' }, [
      this.meta(from, ts),
      h('div', { class: 'bubble', text }),
    ]);
    this.append(li, !!from);
    if (from && !this.isVisible()) {
      const t = text.length > 90 ? `${text.slice(0, 90)}…` : text;
      toast(`${from.name || 'Guest'}: ${t}`);
    }
  }

  /**
   * @param {RemoteParticipant|null} from
   * @param {number} ts
   */
  meta(from, ts) {
    const time = new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return h('div', { class: 'meta' }, [h('b', { text: from ? from.name || 'Guest' : 'You' }), h('span', { text: time })]);
  }

  /**
   * @param {HTMLElement} li
   * @param {boolean} fromOthers
   */
  append(li, fromOthers) {
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(li);
    $('chat-empty').hidden = true;
    if (atBottom || !fromOthers) li.scrollIntoView({ block: 'end' });
    if (fromOthers && !this.isVisible()) {
      this.unread++;
      this.onUnread(this.unread);
    }
  }

  clearUnread() {
    this.unread = 0;
    this.onUnread(0);
  }

  /** @param {FileTransfer} t */
  addTransfer(t) {
    const peer = this.room.participants.get(t.peerId);
    const who = peer ? peer.name || 'Guest' : 'someone';
    const progress = /** @type {HTMLProgressElement} */ (h('progress', { max: '1', value: '0', 'aria-label': `Progress of ${t.name}` }));
    const sub = h('span', { class: 'file-sub' });
    const nameEl = h('span', { class: 'file-name', text: t.name, title: t.name });
    const cancel = h('button', { class: 'icon-btn', type: 'button', 'aria-label': `Cancel ${t.name}` }, [icon('close')]);
    cancel.onclick = () => t.cancel();
    const card = h('div', { class: 'file-card' }, [icon('file'),
      h('div', { class: 'file-info' }, [nameEl, sub, progress]), cancel]);
    const li = h('li', {
      class: t.direction === 'send' ? 'msg own file-item' : 'msg file-item',
      'data-direction': t.direction, 'data-state': t.state, 'data-peer': t.peerId, 'data-transfer': t.id,
    }, [h('div', { class: 'meta' }, [h('b', { text: t.direction === 'send' ? `You → ${who}` : who })]), h('div', { class: 'bubble' }, [card])]);
    let last = 0;
    const update = () => {
      li.dataset.state = t.state;
      li.dataset.progress = String(Math.round(t.progress * 100));
      progress.value = t.progress;
      const pct = Math.round(t.progress * 100);
      if (t.state === 'done') {
        sub.textContent = t.direction === 'send' ? `${formatBytes(t.size)} · delivered` : `${formatBytes(t.size)} · received`;
        progress.hidden = true;
        cancel.hidden = true;
      } else if (t.state === 'failed' || t.state === 'cancelled') {
        sub.textContent = t.error ? t.error.message : 'Failed';
        progress.hidden = true;
        cancel.hidden = true;
      } else {
        sub.textContent = `${formatBytes(t.bytes)} of ${formatBytes(t.size)} · ${pct}%`;
      }
    };
    t.addEventListener('progress', () => {
      const now = performance.now();
      if (now - last > 100 || t.progress >= 1) { last = now; update(); }
    });
    t.addEventListener('done', () => {
      update();
      if (t.direction === 'receive' && t.blob) {
        const url = URL.createObjectURL(t.blob);
        const a = h('a', { href: url, download: t.name, class: 'file-name', text: t.name, title: `Download ${t.name}` });
        nameEl.replaceWith(a);
        toast(`${who} sent you “${t.name}”`);
      }
    });
    t.addEventListener('error', () => {
      update();
      if (t.error && t.error.code !== 'file_cancelled') toast(t.error.message, { error: true });
    });
    update();
    this.append(li, t.direction === 'receive');
  }
}
