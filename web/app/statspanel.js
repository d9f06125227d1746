// @ts-check
/**
 * The stats panel: per participant, live sparklines of bitrate, round-trip
 * time and packet loss, drawn on small canvases.
 */
import { $, h, icon } from './ui.js';

/** @typedef {import('../sdk/index.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('../sdk/stats.js').PeerStats} PeerStats */

const POINTS = 60;

class Spark {
  /**
   * @param {string} label
   * @param {string} unit
   * @param {string} color CSS color
   * @param {number} floor smallest top of the scale
   */
  constructor(label, unit, color, floor) {
    this.unit = unit;
    this.color = color;
    this.floor = floor;
    /** @type {number[]} */
    this.values = [];
    this.valueEl = h('span', { class: 'v' });
    this.labelEl = h('small', { text: label });
    this.canvas = h('canvas', { width: '220', height: '44', role: 'img', 'aria-label': `${label} over the last minute` });
    this.el = [h('div', {}, [this.valueEl]), this.canvas];
  }

  /** @param {number|null} v */
  push(v) {
    this.values.push(v ?? 0);
    if (this.values.length > POINTS) this.values.shift();
    const shown = v === null ? '–' : v >= 100 ? Math.round(v).toString() : v.toFixed(1);
    this.valueEl.replaceChildren(`${shown} ${this.unit}`, this.labelEl);
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr)), hgt = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== hgt) { c.width = w; c.height = hgt; }
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, w, hgt);
    const max = Math.max(this.floor, ...this.values) * 1.15;
    const step = w / (POINTS - 1);
    const x0 = w - (this.values.length - 1) * step;
    const y = (/** @type {number} */ v) => hgt - 2 * dpr - (v / max) * (hgt - 4 * dpr);
    ctx.beginPath();
    this.values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
    ctx.strokeStyle = this.color;
    ctx.lineWidth = 1.5 * dpr;
    ctx.lineJoin = 'round';
    ctx.stroke();
    if (this.values.length > 1) {
      ctx.lineTo(w, hgt);
      ctx.lineTo(x0, hgt);
      ctx.closePath();
      ctx.globalAlpha = 0.15;
      ctx.fillStyle = this.color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
  }
}

/**
 * @typedef {object} Card
 * @property {HTMLElement} card
 * @property {HTMLElement} title
 * @property {HTMLElement} q
 * @property {HTMLElement} sub
 * @property {Spark} bitrate
 * @property {Spark} rtt
 * @property {Spark} loss
 * @property {HTMLElement} safety the safety code section
 * @property {HTMLElement} code
 * @property {HTMLElement} explain
 * @property {RTCPeerConnection|null} codeFor the connection the code is of
 * @property {boolean} asking a safetyCode() call is running
 */

export class StatsPanel {
  constructor() {
    this.list = $('stats-list');
    this.list.replaceChildren();
    /** @type {Map<string, Card>} */
    this.cards = new Map();
  }

  /** @param {RemoteParticipant} p */
  card(p) {
    let c = this.cards.get(p.id);
    if (c) return c;
    const title = h('span', { text: p.name || 'Guest' });
    const q = h('span', { class: 'quality', 'data-q': 'unknown' }, [h('i'), h('i'), h('i')]);
    const sub = h('div', { class: 'sub' });
    const cs = getComputedStyle(document.documentElement);
    const bitrate = new Spark('receiving', 'kbit/s', cs.getPropertyValue('--accent').trim() || '#5b5bf0', 100);
    const rtt = new Spark('round trip', 'ms', cs.getPropertyValue('--fair').trim() || '#d49a00', 50);
    const loss = new Spark('packet loss', '%', cs.getPropertyValue('--poor').trim() || '#d93a3a', 2);
    const code = h('code', { class: 'safety-code', 'aria-live': 'polite' });
    const explain = h('p');
    const safety = h('div', { class: 'safety', hidden: '' }, [
      h('div', { class: 'safety-head' }, [icon('shield'), h('span', { text: 'Safety code' })]), code, explain,
    ]);
    const card = h('section', { class: 'stats-card', 'data-peer': p.id }, [
      h('h3', {}, [title, q]), sub,
      h('div', { class: 'spark' }, [...bitrate.el, ...rtt.el, ...loss.el]),
      safety,
    ]);
    c = { card, title, q, sub, bitrate, rtt, loss, safety, code, explain, codeFor: null, asking: false };
    this.cards.set(p.id, c);
    this.list.append(card);
    $('stats-empty').hidden = true;
    return c;
  }

  /**
   * @param {RemoteParticipant} p
   * @param {PeerStats} s
   */
  update(p, s) {
    const c = this.card(p);
    c.title.textContent = p.name || 'Guest';
    c.q.dataset.q = s.quality;
    c.q.setAttribute('aria-label', `Connection ${s.quality}`);
    const path = s.candidateType === 'relay' ? 'via relay server' : s.candidateType ? 'direct' : 'not connected';
    const res = s.frameWidth ? ` · ${s.frameWidth}×${s.frameHeight} @ ${Math.round(s.framesPerSecond)} fps` : '';
    c.sub.textContent = `${path}${res} · sending ${Math.round(s.outKbps)} kbit/s`;
    c.bitrate.push(s.inKbps);
    c.rtt.push(s.rttMs);
    c.loss.push(s.lossPercent);
    this.updateSafety(p, c);
  }

  /**
   * Shows the safety code of the connection to p once it is up. It stays
   * the same for the life of a peer connection, so it is asked for once.
   * @param {RemoteParticipant} p
   * @param {Card} c
   */
  updateSafety(p, c) {
    const name = p.name || 'Guest';
    c.explain.textContent = `Compare this code with ${name}. If it matches on both screens, nobody — not even the server — can see or hear your call.`;
    if (c.asking || !p.pc || c.codeFor === p.pc || p.connectionState !== 'connected') return;
    c.asking = true;
    const pc = p.pc;
    p.safetyCode().then((code) => {
      if (!code) return;
      c.codeFor = pc;
      c.code.textContent = code;
      c.code.setAttribute('aria-label', `Safety code ${code.split(' ').map((g) => g.split('').join(' ')).join(', ')}`);
      c.card.dataset.safetyCode = code;
      c.safety.hidden = false;
    }).catch(() => { /* try again with the next sample */ }).finally(() => { c.asking = false; });
  }

  /** @param {string} id */
  remove(id) {
    this.cards.get(id)?.card.remove();
    this.cards.delete(id);
    $('stats-empty').hidden = this.cards.size > 0;
  }
}
