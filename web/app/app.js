// @ts-check
/**
 * peercall web app: routes on location.pathname.
 *   /          home: start a call or join one by name
 *   /r/<room>  pre-join screen, then the call
 */
import { Room, PeercallError, createRoom, validRoomName } from '../sdk/index.js';
import { $, showView } from './ui.js';
import { LocalMedia } from './local.js';
import { runPrejoin } from './prejoin.js';
import { runCall } from './call.js';

/**
 * Handle for tests and debugging: the current room, if any.
 * @type {{room: Room|null, local: LocalMedia|null}}
 */
const debug = { room: null, local: null };
/** @type {any} */ (window).peercall = debug;

/**
 * Shows the error screen.
 * @param {string} title
 * @param {string} text
 * @param {{retry?: string, home?: string, icon?: boolean}} [actions]
 */
function showError(title, text, actions = {}) {
  showView('error');
  $('view-error').querySelector('.error-icon')?.toggleAttribute('hidden', actions.icon === false);
  document.title = `${title} · peercall`;
  $('error-title').textContent = title;
  $('error-text').textContent = text;
  const retry = $('error-retry', HTMLButtonElement);
  retry.hidden = !actions.retry;
  retry.textContent = actions.retry || '';
  retry.onclick = () => location.reload();
  $('error-home').textContent = actions.home || 'Start a new call';
  document.body.dataset.error = title;
  (actions.retry ? retry : $('error-home')).focus();
}

/**
 * Shows the right screen for a failed or ended call.
 * @param {unknown} err
 * @param {string} room
 */
function showCallError(err, room) {
  const code = err instanceof PeercallError ? err.code : '';
  const msg = err instanceof Error ? err.message : String(err);
  document.body.dataset.errorCode = code || 'unknown';
  switch (code) {
    case 'server_full':
      showError('The server is busy', 'This server has as many calls as it can take right now. Try again in a few minutes.', { retry: 'Try again' });
      break;
    case 'denied':
      showError('You were not let in', 'A host of this room turned down your request to join.', { home: 'Go to the start page' });
      break;
    case 'removed':
      showError('You were removed from the call', 'A host of this room removed you.', { home: 'Go to the start page' });
      break;
    case 'replaced':
      showError('You joined from somewhere else', 'This call continues in another tab or device.', { retry: 'Use it here instead' });
      break;
    case 'room_full':
      showError('This room is full', `“${room}” already has as many people as it allows. Try again when someone leaves, or start a new call.`, { retry: 'Try again' });
      break;
    case 'invalid_room':
    case 'bad_request':
      badLink(room);
      break;
    case 'unauthorized':
      showError('You need an invitation', 'This server only lets people with a valid invitation link join.', { home: 'Go to the start page' });
      break;
    case 'connection_failed':
    case 'timeout':
      showError('Can\'t reach the server', 'Check your internet connection and try again.', { retry: 'Try again' });
      break;
    case 'unavailable':
      showError('The service is briefly unavailable', 'The server can\'t reach its room service right now. Calls in progress are not affected; try joining again in a moment.', { retry: 'Try again' });
      break;
    case 'server_shutdown':
      showError('The server is restarting', 'The call ended because the server is restarting. Rejoin in a moment.', { retry: 'Rejoin' });
      break;
    case 'connection_lost':
    case 'slow_consumer':
      showError('Lost connection to the server', 'Your connection to the server dropped, so the call ended. Check your network and rejoin.', { retry: 'Rejoin' });
      break;
    default:
      showError('Something went wrong', msg || 'The call ended unexpectedly.', { retry: 'Rejoin' });
  }
}

/** @param {string} room */
function badLink(room) {
  document.body.dataset.errorCode = 'invalid_room';
  showError('This link doesn\'t work',
    `“${room.slice(0, 80)}” is not a valid room name. Room names use only letters, digits and . _ ~ - (up to 64). Check the link, or start a new call.`);
}

/**
 * Shows or hides the lobby: the room is locked and a host has to let us in.
 * @param {boolean} on
 */
function showLobby(on) {
  $('pre-form').hidden = on;
  $('pre-lobby').hidden = !on;
  if (on) {
    document.body.dataset.lobby = 'waiting';
    document.title = 'Waiting to be let in · peercall';
    // Leaving the page closes the socket, which withdraws the knock.
    $('pre-lobby-cancel').onclick = () => location.reload();
    $('pre-lobby-cancel').focus();
  } else {
    delete document.body.dataset.lobby;
  }
}

/**
 * The access token of an invitation link (/r/<room>#token=…), for servers in
 * token mode. The fragment never reaches a server; it is taken out of the
 * address bar at once (so it is not shared on copy-link or kept in history)
 * and kept for this tab, so that "Try again" and reloads still work.
 * @param {string} room
 * @returns {string|undefined}
 */
function takeToken(room) {
  const key = `peercall.token.${room}`;
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    let token = m[1];
    try { token = decodeURIComponent(token); } catch { /* keep as is */ }
    try { sessionStorage.setItem(key, token); } catch { /* storage may be off */ }
    history.replaceState(null, '', location.pathname + location.search);
    return token;
  }
  try { return sessionStorage.getItem(key) || undefined; } catch { return undefined; }
}

/** @param {string} room */
async function enterRoom(room) {
  const token = takeToken(room);
  const local = new LocalMedia();
  debug.local = local;
  const { name } = await runPrejoin(room, local);
  const status = $('pre-status');
  const joinBtn = $('pre-join', HTMLButtonElement);
  joinBtn.disabled = true;
  status.textContent = 'Joining…';
  const tracks = [local.audio, local.video].filter((t) => t !== null);
  /** @type {Room} */
  let r;
  try {
    r = await Room.join({
      room, name, token, stream: new MediaStream(tracks),
      // /r/<room>?relay=1: media only through the TURN relay, so that the
      // others never see this device's IP addresses.
      relayOnly: new URLSearchParams(location.search).get('relay') === '1',
      onLobby: () => showLobby(true),
      state: { audio_muted: !local.micOn || !local.audio, video_muted: !local.video },
    });
  } catch (e) {
    local.stop();
    showCallError(e, room);
    return;
  } finally {
    showLobby(false);
    joinBtn.disabled = false;
    status.textContent = '';
  }
  debug.room = r;
  const end = await runCall(r, local);
  local.stop();
  debug.room = null;
  if (end.reason === 'left') {
    document.body.dataset.errorCode = 'left';
    showError('You left the call', `You can rejoin “${room}” with the same link.`, { retry: 'Rejoin', icon: false });
  } else {
    showCallError(end.error || new PeercallError('connection_lost', 'The connection to the server was lost.'), room);
  }
}

function home() {
  showView('home');
  document.title = 'peercall';
  const err = $('home-error');
  const btn = $('home-create', HTMLButtonElement);
  btn.onclick = async () => {
    btn.disabled = true;
    err.hidden = true;
    try {
      const name = await createRoom();
      history.pushState(null, '', `/r/${encodeURIComponent(name)}`);
      route();
    } catch (e) {
      err.textContent = e instanceof Error ? e.message : String(e);
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  };
  $('home-join', HTMLFormElement).onsubmit = (ev) => {
    ev.preventDefault();
    let v = $('home-room', HTMLInputElement).value.trim();
    const m = v.match(/\/r\/([^/?#]+)/);
    if (m) v = decodeURIComponent(m[1]);
    if (!validRoomName(v)) {
      err.textContent = 'Room names use only letters, digits and . _ ~ - (up to 64 characters).';
      err.hidden = false;
      return;
    }
    history.pushState(null, '', `/r/${encodeURIComponent(v)}`);
    route();
  };
  btn.focus();
}

function route() {
  const path = location.pathname;
  if (path === '/' || path === '' || path === '/app/' || path === '/app/index.html') { home(); return; }
  const m = path.match(/^\/r\/([^/]*)\/?$/);
  if (!m) {
    document.body.dataset.errorCode = 'not_found';
    showError('Page not found', 'There is nothing at this address. Start a new call instead.');
    return;
  }
  let room = '';
  try { room = decodeURIComponent(m[1]); } catch { room = m[1]; }
  if (!validRoomName(room)) { badLink(room); return; }
  enterRoom(room).catch((e) => showCallError(e, room));
}

window.addEventListener('popstate', () => location.reload());
route();
