// The browser softphone: one JsSIP user agent registered to Asterisk over a websocket.
// Shared by the agent console and the supervisor wallboard, so it knows nothing about pages:
// it dispatches events (an EventTarget; `on(type, fn)` is a shorthand) and the page draws them.
//
// Events (event.detail):
//   registration {state: 'connecting'|'registered'|'unregistered'|'failed', reason}
//   incoming     {id, number, display_name, headers}        a call rings this softphone
//   calling      {id, target, consult}                      an outbound call was started
//   confirmed    {id, consult}                              a call is up (media flowing)
//   ended        {id, consult, originator, cause}           an established call ended
//   failed       {id, consult, originator, cause}           a call ended before it was up
//   hold         {held, consult}    mute {muted}
//   transfer     {kind: 'blind'|'attended', target, state: 'accepted'|'failed', cause}
import JsSIP from '/static/vendor/jssip.js';

const MEDIA = { audio: true, video: false };
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

export class Softphone extends EventTarget {
  constructor({ ws_url, uri, authorization_user, password, display_name, stun = [] }, audioElement) {
    super();
    this.config = { ws_url, uri, authorization_user, password, display_name };
    this.host = JsSIP.URI.parse(uri).host;
    this.audio = audioElement;
    // Loopback and the LAN need no STUN; the server may still hand some out.
    this.pcConfig = { iceServers: stun.length ? [{ urls: stun }] : [] };
    this.ua = null;
    this.session = null; // the call the agent is on (or is being rung by)
    this.consult = null; // the second call of an attended transfer; `session` is on hold meanwhile
    this.registration = { state: 'unregistered', reason: '' };
    this.held = false;
    this.muted = false;
    this._retryTimer = null;
    this._retryDelay = RETRY_MIN_MS;
    this._timeouts = 0;
    this._onOnline = () => this._recover('browser back online');
  }

  on(type, fn) {
    const listener = (event) => fn(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setRegistration(state, reason = '') {
    this.registration = { state, reason };
    this._emit('registration', { state, reason });
  }

  // ---- user agent and registration ----

  start() {
    if (this.ua) return;
    const socket = new JsSIP.WebSocketInterface(this.config.ws_url);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: this.config.uri,
      authorization_user: this.config.authorization_user,
      password: this.config.password,
      display_name: this.config.display_name,
      register: true,
      // Short enough that a seat whose browser vanished drops out of Asterisk within minutes.
      register_expires: 120,
      // JsSIP reopens a closed websocket by itself, re-REGISTERing once it is back.
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 15,
      user_agent: 'hotline-softphone JsSIP/' + JsSIP.version,
    });
    const ua = this.ua;
    // Events of a user agent we have since replaced are stale: ignore them.
    const mine = (fn) => (data) => { if (this.ua === ua) fn(data); };
    ua.on('connecting', mine(() => {
      if (this.registration.state !== 'failed') this._setRegistration('connecting', 'websocket');
    }));
    ua.on('connected', mine(() => this._setRegistration('connecting', 'registering')));
    ua.on('disconnected', mine((e) => {
      const why = e && e.code ? `websocket closed (${e.code}), retrying` : 'websocket closed, retrying';
      this._setRegistration('failed', why);
    }));
    ua.on('registered', mine(() => {
      this._retryDelay = RETRY_MIN_MS;
      this._timeouts = 0;
      this._setRegistration('registered');
    }));
    ua.on('unregistered', mine((e) => {
      // A closed websocket also unregisters; 'disconnected' already said so and JsSIP reconnects.
      if (!ua.isConnected()) return;
      this._setRegistration('unregistered', (e && e.cause) || '');
      this._scheduleRegister();
    }));
    ua.on('registrationFailed', mine((e) => {
      const cause = (e && e.cause) || 'registration failed';
      this._setRegistration('failed', cause);
      // JsSIP only registers again when the websocket reconnects; a 503 while Asterisk reloads,
      // or a timeout on a half-open socket, would otherwise leave the seat unreachable for good.
      if (cause === JsSIP.C.causes.REQUEST_TIMEOUT) this._timeouts += 1;
      this._scheduleRegister();
    }));
    ua.on('newRTCSession', mine((e) => this._onNewSession(e)));
    window.addEventListener('online', this._onOnline);
    this._setRegistration('connecting', 'websocket');
    ua.start();
  }

  stop() {
    window.removeEventListener('online', this._onOnline);
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    for (const s of [this.consult, this.session]) if (s && !s.isEnded()) s.terminate();
    this.session = this.consult = null;
    if (this.ua) {
      const ua = this.ua;
      this.ua = null;
      ua.stop(); // sends the un-REGISTER, then closes the websocket
    }
    this._setRegistration('unregistered', 'stopped');
  }

  get registered() {
    return this.registration.state === 'registered';
  }

  _scheduleRegister() {
    if (this._retryTimer) return;
    const delay = this._retryDelay;
    this._retryDelay = Math.min(this._retryDelay * 2, RETRY_MAX_MS);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this.ua || this.registered) return;
      // Two REGISTERs lost in a row on an "open" websocket: the socket is dead without knowing it
      // (laptop slept, NAT forgot us). A fresh user agent opens a new one.
      if (this._timeouts >= 2) this._recover('no answer from the server');
      else if (this.ua.isConnected()) this.ua.register();
    }, delay);
  }

  _recover(reason) {
    if (!this.ua || this.registered) return;
    if (this.session || this.consult) {
      // Never drop a live call to fix the registration; try again once the call is over.
      this._scheduleRegister();
      return;
    }
    const ua = this.ua;
    this.ua = null;
    ua.stop();
    this._timeouts = 0;
    this._setRegistration('connecting', reason);
    this.start();
  }

  // ---- calls ----

  _target(target) {
    return `sip:${target}@${this.host}`;
  }

  _onNewSession({ originator, session, request }) {
    if (originator !== 'remote') return; // ours are wired up in _dial
    if (this.session || this.consult) {
      // One call at a time; Asterisk's queue should not ring a busy seat anyway.
      session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    this.session = session;
    this._wire(session, false);
    this._emit('incoming', {
      id: session.id,
      number: request.from.uri.user,
      display_name: request.from.display_name || '',
      headers: headersOf(request),
    });
  }

  _wire(session, consult) {
    const detail = (extra) => ({ id: session.id, consult, ...extra });
    session.on('peerconnection', (e) => this._watchTracks(session, e.peerconnection));
    if (session.connection) this._watchTracks(session, session.connection);
    session.on('confirmed', () => {
      this._playActive();
      this._emit('confirmed', detail({}));
    });
    const over = (type) => (e) => {
      if (this.session === session) {
        this.session = null;
        this.held = this.muted = false;
      }
      if (this.consult === session) {
        this.consult = null;
        // The target never answered (busy, no such number): back to the waiting caller.
        if (type === 'failed') this.unhold();
      }
      this._playActive();
      this._emit(type, detail({ originator: e.originator, cause: e.cause }));
    };
    session.on('ended', over('ended'));
    session.on('failed', over('failed'));
    session.on('hold', (e) => { if (e.originator === 'local') this._emit('hold', { held: true, consult }); });
    session.on('unhold', (e) => { if (e.originator === 'local') this._emit('hold', { held: false, consult }); });
  }

  _watchTracks(session, pc) {
    pc.addEventListener('track', () => this._playActive());
  }

  // The agent hears the consult call while it exists, otherwise the main call.
  _playActive() {
    const session = this.consult || this.session;
    const pc = session && session.connection;
    if (!this.audio) return;
    if (!pc) {
      this.audio.srcObject = null;
      return;
    }
    const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t && t.kind === 'audio');
    const current = this.audio.srcObject;
    const same = current && current.getTracks().length === tracks.length
      && tracks.every((t) => current.getTracks().includes(t));
    if (!same) this.audio.srcObject = tracks.length ? new MediaStream(tracks) : null;
    if (this.audio.srcObject) this.audio.play().catch(() => {}); // autoplay may need a click first
  }

  _dial(target, consult) {
    if (!this.ua) throw new Error('softphone not started');
    const session = this.ua.call(this._target(target), {
      mediaConstraints: MEDIA,
      pcConfig: this.pcConfig,
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    });
    if (consult) this.consult = session;
    else this.session = session;
    this._wire(session, consult);
    this._emit('calling', { id: session.id, target, consult });
    return session;
  }

  call(target) {
    if (this.session) throw new Error('already on a call');
    this._dial(target, false);
  }

  answer() {
    const s = this.session;
    if (!s || s.direction !== 'incoming' || s.isEstablished() || s.isEnded()) return;
    s.answer({ mediaConstraints: MEDIA, pcConfig: this.pcConfig });
  }

  reject() {
    const s = this.session;
    if (s && s.direction === 'incoming' && !s.isEstablished() && !s.isEnded()) {
      s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    }
  }

  // Ends the main call (rejecting it if it still rings); a consult call goes with it.
  hangup() {
    if (this.consult && !this.consult.isEnded()) this.consult.terminate();
    if (this.session && !this.session.isEnded()) this.session.terminate();
  }

  hold() {
    if (this.session && this.session.isEstablished() && this.session.hold()) this.held = true;
  }

  unhold() {
    if (this.session && this.session.isEstablished() && this.session.unhold()) this.held = false;
  }

  mute() {
    const s = this.consult || this.session;
    if (!s) return;
    s.mute({ audio: true });
    this.muted = true;
    this._emit('mute', { muted: true });
  }

  unmute() {
    for (const s of [this.session, this.consult]) if (s && !s.isEnded()) s.unmute({ audio: true });
    this.muted = false;
    this._emit('mute', { muted: false });
  }

  // RFC 4733 events in the RTP stream: JsSIP's default (SIP INFO) would not reach an IVR
  // on the far side of Asterisk the same way.
  sendDTMF(digit) {
    const s = this.consult || this.session;
    if (s && s.isEstablished()) s.sendDTMF(String(digit), { transportType: 'RFC2833' });
  }

  blindTransfer(target) {
    const s = this.session;
    if (!s || !s.isEstablished()) throw new Error('no call to transfer');
    s.refer(this._target(target), { eventHandlers: this._referHandlers('blind', target) });
  }

  // Attended transfer, step 1: the caller waits on hold while the agent talks to the target.
  startConsult(target) {
    if (!this.session || !this.session.isEstablished()) throw new Error('no call to transfer');
    if (this.consult) throw new Error('already consulting');
    if (!this.session.isOnHold().local) {
      this.session.hold();
      this.held = true;
    }
    this._dial(target, true);
  }

  // Step 2: the caller's leg replaces ours in the consult call (REFER with Replaces).
  completeTransfer() {
    const s = this.session;
    const c = this.consult;
    if (!s || !c || !c.isEstablished()) throw new Error('no consult call to join');
    const target = c.remote_identity.uri.toString();
    s.refer(target, { replaces: c, eventHandlers: this._referHandlers('attended', target) });
  }

  // Step 2 instead: drop the consult call and return to the caller.
  cancelConsult() {
    if (this.consult && !this.consult.isEnded()) this.consult.terminate();
    this.consult = null;
    this.unhold();
    this._playActive();
  }

  _referHandlers(kind, target) {
    const report = (state) => (e) => this._emit('transfer', { kind, target, state, cause: (e && e.cause) || '' });
    return {
      // NOTIFY 200: the far side has the caller now. Asterisk leaves the transferor's own legs
      // up (RFC 5589: hanging up is the transferor's job), so end them here.
      accepted: (e) => {
        report('accepted')(e);
        for (const s of [this.consult, this.session]) if (s && !s.isEnded()) s.terminate();
      },
      requestFailed: report('failed'),
      failed: report('failed'),
    };
  }

  // Packet counters of the call being heard, for tests and the "is audio flowing" check.
  async stats() {
    const totals = { packetsReceived: 0, packetsSent: 0, bytesReceived: 0 };
    const s = this.consult || this.session;
    if (!s || !s.connection) return totals;
    const report = await s.connection.getStats();
    report.forEach((r) => {
      if ((r.kind || r.mediaType) !== 'audio') return;
      if (r.type === 'inbound-rtp') {
        totals.packetsReceived += r.packetsReceived || 0;
        totals.bytesReceived += r.bytesReceived || 0;
      } else if (r.type === 'outbound-rtp') {
        totals.packetsSent += r.packetsSent || 0;
      }
    });
    return totals;
  }
}

// All headers of the INVITE, lower-case name -> first raw value (X-... carry the call's ids).
function headersOf(request) {
  const out = {};
  for (const [name, values] of Object.entries(request.headers || {})) {
    if (values && values.length) out[name.toLowerCase()] = values[0].raw;
  }
  return out;
}
