// @ts-check
// A minimal call with the peercall JS SDK: camera, remote videos, mute,
// chat. Serve it from your peercall server at /example/, or copy it to your
// site and pass `server` to Room.join.
import { Room, getLocalMedia } from '../sdk/index.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @type {Room|null} */
let room = null;
/** @type {MediaStream|null} */
let stream = null;

/**
 * Adds or finds the <video> for a participant.
 * @param {string} id
 * @param {string} label
 */
function videoFor(id, label) {
  let fig = document.querySelector(`figure[data-id="${id}"]`);
  if (!fig) {
    fig = document.createElement('figure');
    fig.setAttribute('data-id', id);
    const v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    fig.append(v, document.createElement('figcaption'));
    $('videos').append(fig);
  }
  /** @type {HTMLElement} */ (fig.querySelector('figcaption')).textContent = label;
  return /** @type {HTMLVideoElement} */ (fig.querySelector('video'));
}

/** @param {string} text */
function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('log').append(li);
}

$('join').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('status').textContent = 'Joining…';
  // Never rejects for a blocked or missing device: you get what could be opened.
  const media = await getLocalMedia();
  stream = media.stream;
  if (media.videoError) log(media.videoError.message);
  if (media.audioError) log(media.audioError.message);
  try {
    room = await Room.join({ room: input('room').value, name: input('name').value, stream });
  } catch (e) {
    $('status').textContent = `Could not join: ${e instanceof Error ? e.message : e}`;
    return;
  }
  $('status').textContent = `In room ${room.name} as ${room.displayName}`;
  const self = videoFor('self', 'You');
  self.muted = true;
  self.srcObject = room.localStream;

  room.addEventListener('participantjoined', (e) => log(`${/** @type {CustomEvent} */ (e).detail.participant.name} joined`));
  room.addEventListener('tracks', (e) => {
    const p = /** @type {CustomEvent} */ (e).detail.participant;
    videoFor(p.id, p.name).srcObject = p.stream; // camera and microphone
  });
  room.addEventListener('participantupdated', (e) => {
    const p = /** @type {CustomEvent} */ (e).detail.participant;
    videoFor(p.id, `${p.name}${p.state.audio_muted ? ' (muted)' : ''}`);
  });
  room.addEventListener('participantleft', (e) => {
    const p = /** @type {CustomEvent} */ (e).detail.participant;
    document.querySelector(`figure[data-id="${p.id}"]`)?.remove();
    log(`${p.name} left`);
  });
  room.addEventListener('chat', (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    log(`${d.participant ? d.participant.name : 'You'}: ${d.text}`);
  });
  room.addEventListener('disconnected', (e) => {
    const err = /** @type {CustomEvent} */ (e).detail.error;
    $('status').textContent = `Disconnected: ${err ? err.message : 'left'}`;
  });
  $('chat').hidden = false;
  for (const id of ['leave', 'mute']) /** @type {HTMLButtonElement} */ ($(id)).disabled = false;
});

$('mute').addEventListener('click', () => {
  if (!room) return;
  room.setAudioMuted(!room.state.audio_muted);
  $('mute').textContent = room.state.audio_muted ? 'Unmute' : 'Mute';
});

$('chat').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (room && input('msg').value) room.sendChat(input('msg').value);
  input('msg').value = '';
});

$('leave').addEventListener('click', () => {
  room?.leave();
  stream?.getTracks().forEach((t) => t.stop());
  room = null;
  $('videos').replaceChildren();
  $('chat').hidden = true;
  $('status').textContent = 'Left the room.';
  for (const id of ['leave', 'mute']) /** @type {HTMLButtonElement} */ ($(id)).disabled = true;
});
