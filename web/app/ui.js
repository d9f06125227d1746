// @ts-check
/** Small DOM helpers shared by the views. */

/**
 * Finds an element by ID or throws: a missing element is a bug in index.html.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new (...args: any[]) => T} [type]
 * @returns {T}
 */
export function $(id, type) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  if (type && !(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (el);
}

/**
 * Creates an element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node|string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

/**
 * An <svg><use href="#i-name"/></svg> icon from the sprite in index.html.
 * @param {string} name
 * @param {string} [cls]
 * @returns {SVGSVGElement}
 */
export function icon(name, cls) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(NS, 'svg'));
  svg.setAttribute('aria-hidden', 'true');
  if (cls) svg.setAttribute('class', cls);
  const use = document.createElementNS(NS, 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

/**
 * Points a button's sprite icon at another symbol.
 * @param {Element} btn
 * @param {string} name
 */
export function setIcon(btn, name) {
  const use = btn.querySelector('use');
  if (use) use.setAttribute('href', `#i-${name}`);
}

/** Shows exactly one view. @param {'home'|'prejoin'|'call'|'error'} name */
export function showView(name) {
  for (const v of document.querySelectorAll('.view')) {
    /** @type {HTMLElement} */ (v).hidden = v.id !== `view-${name}`;
  }
  document.body.dataset.view = name;
}

/**
 * Shows a short message at the top of the page.
 * @param {string} text
 * @param {{error?: boolean, ms?: number}} [opts]
 */
export function toast(text, opts = {}) {
  const box = $('toasts');
  const t = h('div', { class: opts.error ? 'toast error' : 'toast', role: opts.error ? 'alert' : 'status', text });
  box.append(t);
  setTimeout(() => t.remove(), opts.ms || (opts.error ? 7000 : 3500));
}

/**
 * Initials for an avatar: "Ada Lovelace" → "AL".
 * @param {string} name
 * @returns {string}
 */
export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = Array.from(parts[0])[0] || '';
  const last = parts.length > 1 ? Array.from(parts[parts.length - 1])[0] || '' : '';
  return (first + last).toUpperCase();
}

/**
 * A stable pleasant color for a participant.
 * @param {string} seed
 * @returns {string}
 */
export function colorFor(seed) {
  let x = 0;
  for (let i = 0; i < seed.length; i++) x = (x * 31 + seed.charCodeAt(i)) >>> 0;
  return `hsl(${x % 360} 55% 48%)`;
}

/**
 * Copies text to the clipboard, falling back to a selection where the
 * Clipboard API is unavailable (plain http on a LAN address).
 * @param {string} text
 * @returns {Promise<boolean>}
 */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { 'aria-hidden': 'true' });
    ta.value = text;
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

/**
 * Fills a <select> with devices, keeping the chosen one selected.
 * @param {HTMLSelectElement} sel
 * @param {MediaDeviceInfo[]} devices
 * @param {string} chosen deviceId
 * @param {string} noneLabel shown when the list is empty
 */
export function fillDeviceSelect(sel, devices, chosen, noneLabel) {
  sel.replaceChildren();
  if (!devices.length) {
    sel.append(h('option', { value: '', text: noneLabel }));
    sel.disabled = true;
    return;
  }
  sel.disabled = false;
  devices.forEach((d, i) => {
    const kind = d.kind === 'videoinput' ? 'Camera' : d.kind === 'audioinput' ? 'Microphone' : 'Speaker';
    const o = h('option', { value: d.deviceId, text: d.label || `${kind} ${i + 1}` });
    if (d.deviceId === chosen) o.selected = true;
    sel.append(o);
  });
}

/**
 * What an empty device picker says.
 * @param {{code: string}|null} err
 * @param {string} what
 * @returns {string}
 */
export function noDevice(err, what) {
  if (err && err.code === 'media_not_allowed') return `Blocked by the browser`;
  return `No ${what} found`;
}

/** Local storage that never throws (private mode, disabled storage). */
export const store = {
  /** @param {string} k @returns {string} */
  get(k) { try { return localStorage.getItem(`peercall.${k}`) || ''; } catch { return ''; } },
  /** @param {string} k @param {string} v */
  set(k, v) { try { localStorage.setItem(`peercall.${k}`, v); } catch { /* ignore */ } },
};

/**
 * Sets a media element's output device where the browser supports it.
 * @param {HTMLMediaElement} el
 * @param {string} sinkId
 */
export function setSink(el, sinkId) {
  const m = /** @type {HTMLMediaElement & {setSinkId?: (id: string) => Promise<void>}} */ (el);
  if (sinkId && typeof m.setSinkId === 'function') m.setSinkId(sinkId).catch(() => {});
}
