// Calls: WebRTC audio and video between two contacts, signalled over the
// socket (call.* frames); the incoming-call dialog (every open tab rings),
// the in-call view, and the call log.

import { api, apiAll } from "./api.js";
import { avatar, clear, formatDateTime, formatDuration, formatWhen, h, svgIcon, t, tf, uuid4 } from "./dom.js";
import { emit, nameOf, newest, on, rememberUser, state } from "./state.js";
import { listPane, listRow, mainHeader, refill } from "./panes.js";
import { emptyState, errorText, toast } from "./ui.js";

let call = null; // the call this tab takes part in
// Ends of calls (call.cancel, call.reject, call.hangup) the server has not
// acknowledged yet (by call.ended, or an error naming the frame's ref):
// call_id -> the frame. They outlive the call in this tab: one asked for
// while the socket was down goes on reconnect (again after every reconnect
// until acknowledged), and a cancel that crossed the callee's accept is
// followed by a hang-up.
const endings = new Map();
// Invites given up before the server named the call: ref -> {peerId, invitedAt}.
const cancelledInvites = new Map();
const incoming = new Map(); // call_id -> {frame, dialog}
const seenIncoming = new Set();
let log = null; // the call log, once loaded
let logError = null; // why the first read of the log failed, until one succeeds
let clockOffset = 0; // the server's clock minus this browser's, from the last hello

// A call nobody answers ends on the server after CALL_RING_TIMEOUT_S (45 s
// unless hello's limits say otherwise). A caller that has heard nothing by
// then and a margin (its call.ringing or call.ended went to a socket that
// dropped) gives up by itself, and the microphone goes off.
const CALL_RING_TIMEOUT_S = 45;
const RING_MARGIN_MS = 15000;
// The protocol has no renegotiation frame, so no ICE restart: a peer
// connection failed or disconnected this long without coming back is a lost
// call, hung up.
const CONNECTION_LOST_MS = 20000;
// call.ended (busy) and the error saying whose call is in the way come in
// either order: the error's wording is waited for this long.
const BUSY_WAIT_MS = 2000;
// How far the call log's started_at may be before an invite's time (the two
// clocks, the latency of the hello that measured them) and still be its call.
const INVITE_CLOCK_SLACK_MS = 5000;

export function title() {
  return t("Calls");
}

export function init() {
  window.addEventListener("beforeunload", () => {
    if (call && call.id) hangUp();
  });
}

// ------------------------------------------------------------------ media

async function iceServers() {
  try {
    const data = await api("GET", "calls/ice-servers");
    return data.ice_servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  } catch (err) {
    return [];
  }
}

async function openMedia(media) {
  return navigator.mediaDevices.getUserMedia({ audio: true, video: media === "video" });
}

function newPeerConnection(servers) {
  const pc = new RTCPeerConnection({ iceServers: servers });
  pc.onicecandidate = (event) => {
    if (!event.candidate || !call || call.pc !== pc) return;
    const candidate = event.candidate.toJSON();
    if (call.id && call.signalling) state.socket.send({ type: "call.ice", call_id: call.id, candidate });
    else call.outgoingIce.push(candidate);
  };
  pc.ontrack = (event) => {
    if (!call || call.pc !== pc) return;
    const stream = event.streams[0] || new MediaStream([event.track]);
    call.remoteStream = stream;
    if (call.ui) {
      call.ui.remoteVideo.srcObject = stream;
      call.ui.remoteAudio.srcObject = stream;
    }
  };
  // What each side's microphone and camera are doing travels peer to peer on
  // a data channel both sides open the same way (negotiated, id 0), so no
  // server frame is needed. A turned-off camera sends black frames: the
  // other side shows the avatar instead.
  const channel = pc.createDataChannel("media-state", { negotiated: true, id: 0 });
  channel.onopen = () => {
    if (call && call.pc === pc) sendMediaState();
  };
  channel.onmessage = (event) => {
    if (!call || call.pc !== pc) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (!data || typeof data !== "object") return;
    call.peerMedia = { mic: data.mic !== false, camera: data.camera !== false };
    updatePeerMedia();
  };
  pc.mediaChannel = channel;
  pc.onconnectionstatechange = () => {
    if (!call || call.pc !== pc || call.state === "ending") return;
    if (pc.connectionState === "connected") {
      clearTimeout(call.lostTimer);
      call.lostTimer = null;
      if (call.state !== "active") {
        call.state = "active";
        call.answeredAt = call.answeredAt || Date.now();
        updateCallView();
      }
    } else if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
      call.state = "reconnecting";
      updateCallView();
      // Until it is connected again (it may go through "connecting").
      if (!call.lostTimer) {
        const troubled = call;
        call.lostTimer = setTimeout(() => {
          if (call === troubled) endHere(t("The call was lost."));
        }, CONNECTION_LOST_MS);
      }
    }
  };
  return pc;
}

function flushIce() {
  if (!call || !call.id || !call.signalling) return;
  for (const candidate of call.outgoingIce.splice(0)) state.socket.send({ type: "call.ice", call_id: call.id, candidate });
}

async function addRemoteIce(candidate) {
  if (!call) return;
  if (!call.remoteSet) {
    call.incomingIce.push(candidate);
    return;
  }
  try {
    await call.pc.addIceCandidate(candidate);
  } catch (err) {
    // A candidate for a network we cannot use: ignore it.
  }
}

async function setRemote(description) {
  await call.pc.setRemoteDescription(description);
  call.remoteSet = true;
  for (const c of call.incomingIce.splice(0)) await addRemoteIce(c);
}

// ------------------------------------------------------------------ placing and answering

export async function startCall(peer, media) {
  if (!begin({ id: null, ref: `call-${uuid4().slice(0, 8)}`, role: "caller", peer: rememberUser(peer), media, state: "calling" })) return;
  try {
    if (!(await attachMedia(media))) return;
    const offer = await call.pc.createOffer();
    await call.pc.setLocalDescription(offer);
    call.invitedAt = Date.now();
    if (!state.socket.send({ type: "call.invite", to: peer.id, media, sdp: { type: offer.type, sdp: offer.sdp }, ref: call.ref })) {
      finish({ text: t("Not connected. Try again when the connection is back.") });
      return;
    }
    call.invited = true;
    const pending = call;
    call.ringTimer = setTimeout(() => ringTimedOut(pending), ringTimeoutMs());
  } catch (err) {
    finish({ text: mediaErrorText(err) });
  }
}

// The call of this tab, shown at once; false (and a toast) when one is going on.
function begin(fields) {
  if (call) {
    toast(t("You are already in a call."), { kind: "error" });
    return false;
  }
  call = { ...fields, outgoingIce: [], incomingIce: [], remoteSet: false, signalling: false, peerMedia: { mic: true, camera: true } };
  showCallView();
  return true;
}

// Camera/microphone and the peer connection for the call; false when the call
// ended while the browser was asking for them (the devices are released).
async function attachMedia(media) {
  const [stream, servers] = await Promise.all([openMedia(media), iceServers()]);
  if (!call) {
    stream.getTracks().forEach((tr) => tr.stop());
    return false;
  }
  call.localStream = stream;
  call.ui.localVideo.srcObject = stream;
  call.pc = newPeerConnection(servers);
  stream.getTracks().forEach((track) => call.pc.addTrack(track, stream));
  return true;
}

function mediaErrorText(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError"))
    return t("The browser was not allowed to use the microphone or camera.");
  if (err && err.name === "NotFoundError") return t("No microphone or camera was found.");
  return errorText(err);
}

async function accept(frame) {
  // Offline, the accept could not go: the call keeps ringing here.
  if (!state.socket.open()) {
    incomingProblem(frame.call_id, t("Not connected: the call can be answered once the connection is back."));
    return;
  }
  closeIncoming(frame.call_id);
  if (!begin({ id: frame.call_id, role: "callee", peer: rememberUser(frame.from), media: frame.media, state: "connecting" })) return;
  try {
    if (!(await attachMedia(frame.media))) return;
    await setRemote(frame.sdp);
    const answer = await call.pc.createAnswer();
    await call.pc.setLocalDescription(answer);
    // Hung up while the browser opened the microphone: declined, not answered.
    if (!call || call.id !== frame.call_id) return;
    if (!state.socket.send({ type: "call.accept", call_id: call.id, sdp: { type: answer.type, sdp: answer.sdp } })) {
      // The socket went down while the microphone opened: nothing was
      // answered, and the call may still ring. It is offered again.
      const text = t("Not connected: the call can be answered once the connection is back.");
      finish({ text });
      showIncoming(frame);
      incomingProblem(frame.call_id, text);
      return;
    }
    // The callee may send candidates only once its accept is on the wire.
    call.signalling = true;
    flushIce();
  } catch (err) {
    if (!call || call.id !== frame.call_id) return; // hung up meanwhile: declined already
    sendEnd(frame.call_id, "call.reject", { reason: "media" });
    finish({ text: mediaErrorText(err) });
  }
}

// Declined; with the socket down the decline goes on reconnect, as a hang-up does.
function reject(frame) {
  closeIncoming(frame.call_id);
  sendEnd(frame.call_id, "call.reject");
}

// Why the incoming call could not be answered, said in its dialog.
function incomingProblem(callId, text) {
  const entry = incoming.get(callId);
  if (!entry) return;
  let line = entry.dialog.querySelector(".alert");
  if (!line) {
    line = h("p.alert", { role: "alert" });
    entry.dialog.querySelector(".dialog-actions").before(line);
  }
  line.textContent = text;
}

// Sends the frame that ends a call as the server sees it, and keeps it until
// the server acknowledges it (see `endings`); false when the socket is down
// (it goes on reconnect). Its own ref tells its error from a candidate's.
function sendEnd(callId, type, extra = {}) {
  const frame = { type, call_id: callId, ...extra, ref: `${type}:${callId}` };
  endings.set(callId, frame);
  return state.socket.send(frame);
}

// The end frame of this tab's call in its state: before this callee's accept
// went, a decline; before the answer, the caller's cancel; then a hang-up.
function endType(c) {
  if (c.role === "callee") return c.signalling ? "call.hangup" : "call.reject";
  return c.state !== "active" && !c.answered ? "call.cancel" : "call.hangup";
}

// An invite given up before the server named its call: the cancel goes
// when it does (call.ringing), or after a reconnect (the call log).
function giveUpInvite(c) {
  cancelledInvites.set(c.ref, { peerId: c.peer.id, invitedAt: c.invitedAt });
}

// The call ends here for a reason of this tab's (the connection is lost, the
// answer unusable, no answer): the server is told as by Hang up, and the
// view says why at once.
function endHere(text) {
  if (!call) return;
  if (call.id) sendEnd(call.id, endType(call));
  else if (call.invited) giveUpInvite(call);
  finish({ text });
}

function ringTimeoutMs() {
  const limit = state.limits && state.limits.call_ring_timeout_s;
  return (limit > 0 ? limit : CALL_RING_TIMEOUT_S) * 1000 + RING_MARGIN_MS;
}

function ringTimedOut(pending) {
  if (call !== pending || pending.answered) return;
  endHere(pending.id ? outcomeText({ outcome: "missed" }, "caller") : t("The call could not be placed: the connection was lost."));
}

// Hang up, whatever the call's state: the frame that ends it as the server
// sees it. Before the server named an invite, the cancel goes when it does
// (call.ringing); before this callee's accept went, it is a decline; with
// the socket down, the call ends here and the frame goes on reconnect.
export function hangUp() {
  if (!call) return;
  if (!call.id) {
    if (call.invited) giveUpInvite(call);
    finish({ text: t("Call cancelled") });
    return;
  }
  const type = endType(call);
  if (type === "call.reject") {
    sendEnd(call.id, type);
    finish({ text: t("Call declined") });
    return;
  }
  if (!sendEnd(call.id, type)) {
    finish({ text: t("Call ended") });
    return;
  }
  call.state = "ending";
  updateCallView();
}

// The socket is back (`hello` is its greeting). "A reconnecting socket is
// not told about an active call": the call log says whether this tab's call
// is still going (the server may have ended it, `failed`, while the socket
// was down; its call.ended was missed), what became of an invite whose
// call.ringing was missed, and which incoming calls stopped ringing. Ends
// asked for meanwhile go now.
export function reconnected(hello) {
  if (hello && hello.server_time) {
    const server = Date.parse(hello.server_time);
    if (!Number.isNaN(server)) clockOffset = server - Date.now();
  }
  for (const frame of endings.values()) state.socket.send(frame);
  for (const { dialog } of incoming.values()) {
    const line = dialog.querySelector(".alert");
    if (line) line.remove();
  }
  if (call && call.role === "caller" && !call.id && call.invited) recoverInvite(call);
  for (const [ref, invite] of cancelledInvites) cancelLostInvite(ref, invite);
  const mine = call && call.id;
  if (!mine && !incoming.size) return;
  loadLog()
    .then(() => {
      if (!log) return;
      for (const c of log) if (c.state === "ended" && incoming.has(c.id)) ringStopped(c.id, c.outcome);
      const entry = mine && log.find((c) => c.id === mine);
      if (entry && entry.state === "ended" && call && call.id === mine) finish({ text: outcomeText(entry, call.role) });
    })
    .catch(() => {});
}

// The call the server made of this tab's invite to `peerId` at `invitedAt`
// (local time), from the call log: the newest from me to them since then;
// null when the invite never reached the server.
async function findInvite({ peerId, invitedAt }) {
  const page = await api("GET", "calls?limit=20");
  const since = invitedAt + clockOffset - INVITE_CLOCK_SLACK_MS;
  const mineTo = (c) => c.caller.id === state.me.id && c.callee.id === peerId;
  return page.results.find((c) => mineTo(c) && Date.parse(c.started_at) >= since) || null;
}

// An invite whose call.ringing went to a socket that dropped: the frames of
// its call on the new socket carry no `ref`, so the call log names it. A
// ringing call is picked up (this socket's first candidate makes it the
// call's media socket); one answered meanwhile lost its answer with the old
// socket, and is hung up; one that never reached the server ends here.
async function recoverInvite(pending) {
  pending.recovering = []; // frames of calls this tab cannot name yet
  let found = null;
  let looked = false;
  try {
    found = await findInvite({ peerId: pending.peer.id, invitedAt: pending.invitedAt });
    looked = true;
  } catch (err) {
    // The log cannot say: the attempt ends here (a call it made rings out).
  }
  const held = pending.recovering;
  pending.recovering = null;
  if (call !== pending || pending.id) {
    // Given up meanwhile: the call it made, if any, is cancelled (the log
    // unread, after the next reconnect).
    if (looked && cancelledInvites.delete(pending.ref) && found && found.state !== "ended")
      sendEnd(found.id, found.state === "ringing" ? "call.cancel" : "call.hangup");
    return;
  }
  if (!found) {
    finish({ text: t("The call could not be placed: the connection was lost.") });
    return;
  }
  if (found.state === "ended") {
    finish({ text: outcomeText(found, "caller") });
    return;
  }
  call.id = found.id;
  call.signalling = true;
  call.state = "ringing";
  flushIce();
  updateCallView();
  for (const frame of held) if (frame.call_id === found.id) onFrame(frame);
  if (call === pending && found.state === "active" && !pending.gotAnswer)
    endHere(t("The call could not be connected: the connection was lost."));
}

// An invite given up before the server named its call, whose call.ringing
// (where the cancel would have gone) was missed: the call log names the call.
function cancelLostInvite(ref, invite) {
  findInvite(invite)
    .then((found) => {
      if (!cancelledInvites.delete(ref)) return; // cancelled already (call.ringing came)
      if (found && found.state !== "ended") sendEnd(found.id, found.state === "ringing" ? "call.cancel" : "call.hangup");
    })
    .catch(() => {}); // tried again after the next reconnect
}

function outcomeText(frame, role) {
  const who = call ? nameOf(call.peer) : "";
  switch (frame.outcome) {
    case "completed":
      return tf("Call ended · %(d)s", { d: formatDuration(frame.duration_s) });
    case "rejected":
      return role === "caller" ? tf("%(who)s declined the call.", { who }) : t("Call declined");
    case "cancelled":
      return t("Call cancelled");
    case "missed":
      return role === "caller" ? tf("%(who)s did not answer.", { who }) : t("Missed call");
    case "busy":
      return tf("%(who)s is busy in another call.", { who });
    case "failed":
      // The server ends a call whose party an administrator disabled or
      // deleted (this socket would have closed if it were ours).
      if (frame.reason === "account_disabled" || frame.reason === "account_deleted")
        return tf("The call ended: %(who)s's account is no longer active.", { who });
      return t("The call failed: the connection was lost.");
    default:
      return t("Call ended");
  }
}

// Ends the call in this tab: media off, the view shows why for a moment.
function finish({ text }) {
  if (!call) return;
  const ended = call;
  call = null;
  if (ended.pc) ended.pc.close();
  if (ended.localStream) ended.localStream.getTracks().forEach((track) => track.stop());
  clearInterval(ended.timer);
  clearTimeout(ended.ringTimer);
  clearTimeout(ended.lostTimer);
  clearTimeout(ended.busyTimer);
  if (ended.ui) {
    ended.ui.status.textContent = text;
    ended.ui.root.classList.add("call-ended");
    // Only "Close" is left to do.
    for (const b of ended.ui.root.querySelectorAll(".call-controls .btn-round")) b.hidden = true;
    ended.ui.close.hidden = false;
    ended.ui.close.onclick = () => closeCallView(ended);
    ended.ui.close.focus();
    ended.closeTimer = setTimeout(() => closeCallView(ended), 4000);
  }
  loadLog().catch(() => {});
}

// ------------------------------------------------------------------ frames

export function onFrame(frame) {
  if (call && call.recovering && frame.call_id && frame.call_id !== call.id && String(frame.type).startsWith("call."))
    call.recovering.push(frame);
  if (frame.call_id && frame.type === "call.ended") endings.delete(frame.call_id);
  switch (frame.type) {
    case "call.ringing":
      if (cancelledInvites.delete(frame.ref)) {
        sendEnd(frame.call_id, "call.cancel");
        return;
      }
      if (call && call.role === "caller" && !call.id && frame.ref === call.ref) {
        call.id = frame.call_id;
        call.signalling = true;
        call.state = "ringing";
        flushIce();
        updateCallView();
      }
      return;
    case "call.incoming":
      if (seenIncoming.has(frame.call_id) || (call && call.id === frame.call_id)) return;
      seenIncoming.add(frame.call_id);
      showIncoming(frame);
      return;
    case "call.accepted":
      if (call && call.id === frame.call_id) {
        call.answered = true;
        if (call.state === "ending") return; // hung up meanwhile: its end is on its way
        if (call.role === "caller" && frame.sdp) {
          call.gotAnswer = true;
          call.state = "connecting";
          updateCallView();
          // An answer this browser cannot use: the call is on at the
          // server, so it is hung up, not just left.
          const answered = call;
          setRemote(frame.sdp).catch(() => {
            if (call === answered) endHere(t("The call failed: the connection was lost."));
          });
        }
      }
      return;
    case "call.answered_elsewhere":
      if (incoming.has(frame.call_id)) {
        closeIncoming(frame.call_id);
        toast(t("The call was answered on another device."));
      } else if (call && call.id === frame.call_id && call.role === "callee") {
        // Accepted here too, but another device was first (this one was
        // still opening the camera): this tab lets the call go.
        finish({ text: t("The call was answered on another device.") });
      }
      return;
    case "call.ice":
      if (call && call.id === frame.call_id && frame.candidate) addRemoteIce(frame.candidate);
      return;
    case "call.ended":
      if (incoming.has(frame.call_id)) ringStopped(frame.call_id, frame.outcome);
      if (frame.ref) cancelledInvites.delete(frame.ref);
      if (call && !call.id && frame.ref && frame.ref === call.ref && frame.outcome === "busy") {
        // Whose call is in the way (mine, or theirs) is in the error that
        // comes with this, before or after: it is waited for.
        if (!call.busyTimer) {
          const pending = call;
          call.busyTimer = setTimeout(() => {
            if (call === pending) finish({ text: outcomeText(frame, "caller") });
          }, BUSY_WAIT_MS);
        }
      } else if (call && (call.id === frame.call_id || (!call.id && frame.ref && frame.ref === call.ref))) {
        finish({ text: outcomeText(frame, call.role) });
      } else {
        loadLog().catch(() => {});
      }
      return;
    case "error":
      onError(frame);
      return;
    default:
  }
}

function onError(frame) {
  if (!frame.ref) return;
  cancelledInvites.delete(frame.ref); // refused (busy, ...): there is no call to cancel
  if (call && !call.id && frame.ref === call.ref) {
    // Busy: the server says whose call is in the way (mine, or theirs).
    finish({ text: frame.code === "busy" ? frame.message || outcomeText({ outcome: "busy" }, "caller") : errorText(frame) });
    return;
  }
  const end = [...endings.values()].find((f) => f.ref === frame.ref);
  if (end) {
    if (frame.code === "rate_limited") {
      setTimeout(() => endings.get(end.call_id) === end && state.socket.send(end), (frame.retry_after || 1) * 1000);
      return;
    }
    if (frame.code === "call_state" && end.type === "call.cancel") {
      // The callee answered as we cancelled: the call is on, so it is ended
      // as one (a refusal of that means it is over already).
      sendEnd(end.call_id, "call.hangup");
      return;
    }
    endings.delete(end.call_id);
    if (call && call.id === end.call_id && call.state === "ending") {
      // Our hang-up came after the server had ended the call (its
      // call.ended went to a socket that was down): it is over.
      finish({ text: frame.code === "call_state" ? t("Call ended") : errorText(frame) });
    }
    return;
  }
  if (call && call.id && frame.ref === call.id && frame.code !== "call_state") toast(errorText(frame), { kind: "error" });
}

// An incoming call stopped ringing (`outcome` as in call.ended): its dialog
// goes, and one that was never answered is a missed call.
function ringStopped(callId, outcome) {
  const { frame: inc } = incoming.get(callId);
  closeIncoming(callId);
  if (outcome === "missed" || outcome === "cancelled" || outcome === "failed")
    toast(tf("Missed call from %(who)s", { who: nameOf(inc.from) }));
}

// ------------------------------------------------------------------ the incoming dialog

function showIncoming(frame) {
  rememberUser(frame.from);
  const video = frame.media === "video";
  const dialog = h(
    "dialog.dialog.incoming-call",
    { "aria-labelledby": `incoming-${frame.call_id}`, "aria-describedby": `incoming-d-${frame.call_id}` },
    avatar(frame.from, { size: 64 }),
    h("h2", { id: `incoming-${frame.call_id}` }, nameOf(frame.from)),
    h("p", { id: `incoming-d-${frame.call_id}` }, video ? t("is calling you (video)…") : t("is calling you (voice)…")),
    h(
      "div.dialog-actions",
      h("button.btn.btn-danger", { type: "button", onclick: () => reject(frame) }, svgIcon("hangup"), " ", t("Decline")),
      h("button.btn.btn-primary.accept-call", { type: "button", onclick: () => accept(frame) }, svgIcon(video ? "video" : "phone"), " ", t("Accept")),
    ),
  );
  dialog.addEventListener("cancel", (event) => event.preventDefault());
  document.body.append(dialog);
  dialog.showModal();
  // showModal focuses the first button, Decline: an Enter meant to answer
  // would hang up. Accept has the focus.
  dialog.querySelector(".accept-call").focus();
  incoming.set(frame.call_id, { frame, dialog });
}

function closeIncoming(callId) {
  const entry = incoming.get(callId);
  if (!entry) return;
  incoming.delete(callId);
  entry.dialog.close();
  entry.dialog.remove();
}

// ------------------------------------------------------------------ the call view

function showCallView() {
  const video = call.media === "video";
  const status = h("p.call-status", { role: "status", "aria-live": "polite" });
  const remoteVideo = h("video.remote-video", { autoplay: true, playsInline: true, "aria-label": t("The other person's video") });
  // Its sound plays through remoteAudio (as in a voice call), not twice.
  remoteVideo.muted = true;
  const localVideo = h("video.local-video", { autoplay: true, playsInline: true, muted: true, "aria-label": t("Your video") });
  localVideo.muted = true;
  const remoteAudio = h("audio", { autoplay: true });
  // Shown over the other person's video while their camera is off.
  const peerCameraOff = h("div.call-peer.call-camera-off", { hidden: true }, avatar(call.peer, { size: 96 }), h("p", tf("%(who)s turned off the camera", { who: nameOf(call.peer) })));
  // Shown in place of my preview while my camera is off.
  const localOff = h("div.local-video.local-off", { hidden: true, "aria-label": t("Your camera is off"), role: "img" }, avatar(state.me, { size: 48 }));
  const peerMuted = h("p.call-peer-muted", { hidden: true }, svgIcon("mic-off"), " ", tf("%(who)s is muted", { who: nameOf(call.peer) }));
  const muteButton = h("button.btn-round", { type: "button", "aria-pressed": "false", onclick: () => toggleTrack("audio") }, svgIcon("mic"), h("span", t("Mute")));
  const cameraButton = video
    ? h("button.btn-round", { type: "button", "aria-pressed": "false", onclick: () => toggleTrack("video") }, svgIcon("video"), h("span", t("Camera off")))
    : null;
  const hangButton = h("button.btn-round.btn-danger", { type: "button", onclick: hangUp }, svgIcon("hangup"), h("span", t("Hang up")));
  const close = h("button.btn", { type: "button", hidden: true }, t("Close")); // shown, with its handler, by finish()
  const root = h(
    `section.call-view${video ? ".call-video" : ".call-audio"}`,
    { role: "dialog", "aria-modal": "true", "aria-label": tf("Call with %(who)s", { who: nameOf(call.peer) }) },
    h(
      "div.call-stage",
      video ? remoteVideo : h("div.call-peer", avatar(call.peer, { size: 96 })),
      video ? peerCameraOff : null,
      video ? localVideo : null,
      video ? localOff : null,
      remoteAudio,
    ),
    h("div.call-info", h("h2", nameOf(call.peer)), status, h("p.call-timer", { "aria-hidden": "true" }), peerMuted),
    h("div.call-controls", muteButton, cameraButton, hangButton, close),
  );
  // Where the keyboard was (the call button), to go back to when the view closes.
  call.opener = document.activeElement;
  const layer = document.getElementById("call-layer");
  layer.append(h("div.call-backdrop"), root);
  // The page behind is out of reach while the call view is up.
  document.querySelector(".app").inert = true;
  call.ui = {
    root,
    status,
    remoteVideo,
    localVideo,
    remoteAudio,
    muteButton,
    cameraButton,
    close,
    peerCameraOff,
    localOff,
    peerMuted,
    timer: root.querySelector(".call-timer"),
  };
  call.timer = setInterval(updateTimer, 1000);
  updateCallView();
  hangButton.focus();
}

function closeCallView(ended) {
  clearTimeout(ended.closeTimer);
  if (ended.ui && ended.ui.root.isConnected) ended.ui.root.remove();
  if (!call) {
    document.getElementById("call-layer").replaceChildren();
    document.querySelector(".app").inert = false;
    if (ended.opener && ended.opener.isConnected) ended.opener.focus();
  }
}

function updateTimer() {
  if (!call || !call.ui) return;
  call.ui.timer.textContent = call.answeredAt ? formatDuration((Date.now() - call.answeredAt) / 1000) : "";
}

function updateCallView() {
  if (!call || !call.ui) return;
  const who = nameOf(call.peer);
  const text = {
    calling: tf("Calling %(who)s…", { who }),
    ringing: tf("Ringing %(who)s…", { who }),
    connecting: t("Connecting…"),
    active: call.media === "video" ? t("Video call") : t("Voice call"),
    reconnecting: t("Connection problems…"),
    ending: t("Ending…"),
  }[call.state];
  call.ui.status.textContent = text || "";
  call.ui.root.dataset.state = call.state;
  updateTimer();
}

function toggleTrack(kind) {
  if (!call || !call.localStream) return;
  const tracks = kind === "audio" ? call.localStream.getAudioTracks() : call.localStream.getVideoTracks();
  const off = tracks.length && tracks[0].enabled;
  tracks.forEach((track) => (track.enabled = !off));
  const button = kind === "audio" ? call.ui.muteButton : call.ui.cameraButton;
  button.setAttribute("aria-pressed", String(Boolean(off)));
  button.querySelector("span").textContent =
    kind === "audio" ? (off ? t("Unmute") : t("Mute")) : off ? t("Camera on") : t("Camera off");
  if (kind === "video") {
    call.ui.localVideo.hidden = Boolean(off);
    call.ui.localOff.hidden = !off;
  }
  sendMediaState();
}

function trackOn(kind) {
  const tracks = kind === "audio" ? call.localStream.getAudioTracks() : call.localStream.getVideoTracks();
  return tracks.length > 0 && tracks[0].enabled;
}

// Tells the other side whether my microphone and camera are on.
function sendMediaState() {
  if (!call || !call.pc || !call.localStream) return;
  const channel = call.pc.mediaChannel;
  if (!channel || channel.readyState !== "open") return;
  channel.send(JSON.stringify({ mic: trackOn("audio"), camera: call.media === "video" && trackOn("video") }));
}

function updatePeerMedia() {
  if (!call || !call.ui) return;
  const { mic, camera } = call.peerMedia;
  call.ui.peerMuted.hidden = mic;
  if (call.media === "video") {
    call.ui.peerCameraOff.hidden = camera;
    call.ui.remoteVideo.hidden = !camera;
  }
}

export function currentCall() {
  return call;
}

// ------------------------------------------------------------------ the call log

export const loadLog = newest(() => apiAll("calls?limit=100", { max: 200 }), (list) => {
  log = list;
  logError = null;
  for (const c of log) {
    rememberUser(c.caller);
    rememberUser(c.callee);
  }
  emit("calls");
});

function logOutcome(c) {
  const outgoing = c.caller.id === state.me.id;
  const video = c.media === "video";
  if (c.state !== "ended") return t("In progress");
  switch (c.outcome) {
    case "completed":
      return formatDuration(c.duration_s);
    case "missed":
      return outgoing ? t("No answer") : t("Missed");
    case "rejected":
      return outgoing ? t("Declined") : t("You declined");
    case "cancelled":
      return outgoing ? t("Cancelled") : t("Missed");
    case "busy":
      return t("Busy");
    case "failed":
      // Not the network's fault: an administrator disabled or deleted an account.
      if (c.reason === "account_disabled") return t("Account disabled");
      if (c.reason === "account_deleted") return t("Account deleted");
      return t("Failed");
    default:
      return video ? t("Video call") : t("Voice call");
  }
}

export function renderList(pane) {
  const list = listPane(pane, t("Calls"));
  const draw = () => {
    if (!log) {
      clear(list, h("p.muted.pad", logError ? errorText(logError) : t("Loading…")));
      return;
    }
    if (!log.length) {
      clear(list, emptyState(t("No calls yet. Start one from a chat with a contact.")));
      return;
    }
    const ul = h("ul.conv-list.call-log", { "aria-label": t("Call log") });
    for (const c of log) {
      const outgoing = c.caller.id === state.me.id;
      const peer = outgoing ? c.callee : c.caller;
      // Red only for a call I missed; one I declined was my choice.
      const bad = !outgoing && (c.outcome === "missed" || c.outcome === "cancelled");
      ul.append(
        listRow(
          "calls",
          c.id,
          [
            avatar(peer),
            h(
              "span.conv-text",
              h("span.conv-top", h(`span.conv-name${bad ? ".missed" : ""}`, nameOf(peer)), h("time.conv-time", { datetime: c.started_at, title: formatDateTime(c.started_at) }, formatWhen(c.started_at))),
              h(
                "span.conv-bottom",
                h(
                  "span.conv-preview",
                  svgIcon(c.media === "video" ? "video" : "phone"),
                  " ",
                  outgoing ? t("Outgoing") : t("Incoming"),
                  " · ",
                  h("span.call-outcome", logOutcome(c)),
                ),
              ),
            ),
          ],
          { current: state.route.item === c.id, dataset: { call: c.id } },
        ),
      );
    }
    refill(list, ul);
  };
  draw();
  loadLog().catch((err) => {
    if (log) return; // an older log stays shown
    logError = err;
    emit("calls");
  });
  return on("calls", draw);
}

// A call of the log. Opened at its address, the log may not be in yet: the
// pane says so and draws the call when it comes (once: what is drawn stays).
export function renderMain(main, item) {
  if (!item) {
    main.append(emptyState(t("Calls with your contacts are listed here.")));
    return null;
  }
  if (log) {
    drawCall(main, item);
    return null;
  }
  main.append(emptyState(t("Loading…")));
  const off = on("calls", () => {
    if (!log && !logError) return;
    off();
    clear(main);
    if (log) drawCall(main, item);
    else main.append(mainHeader(t("Call")), emptyState(errorText(logError)));
  });
  return off;
}

function drawCall(main, item) {
  const c = log.find((x) => x.id === item);
  if (!c) {
    main.append(mainHeader(t("Call")), emptyState(t("This call is not in your call log.")));
    return;
  }
  const outgoing = c.caller.id === state.me.id;
  const peer = outgoing ? c.callee : c.caller;
  main.append(
    mainHeader(t("Call")),
    h(
      "div.pane-scroll",
      h(
        "div.card.center.call-card",
        avatar(peer, { size: 72 }),
        h("h2", nameOf(peer)),
        h(
          "dl.facts",
          h("dt", t("Direction")),
          h("dd", outgoing ? t("Outgoing") : t("Incoming")),
          h("dt", t("Type")),
          h("dd", c.media === "video" ? t("Video call") : t("Voice call")),
          h("dt", t("Result")),
          h("dd", logOutcome(c)),
          // The words the callee declined with, if any.
          ...(c.outcome === "rejected" && c.reason ? [h("dt", t("Reason")), h("dd.call-reason", c.reason)] : []),
          h("dt", t("Started")),
          h("dd", formatDateTime(c.started_at)),
        ),
        h(
          "div.actions",
          h("button.btn", { type: "button", onclick: () => startCall(peer, "audio") }, svgIcon("phone"), " ", t("Voice call")),
          h("button.btn.btn-primary", { type: "button", onclick: () => startCall(peer, "video") }, svgIcon("video"), " ", t("Video call")),
        ),
      ),
    ),
  );
}
