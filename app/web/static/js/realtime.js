// One WebSocket for the whole page, kept open: it reconnects by itself with exponential
// backoff and jitter, pings at the server's heartbeat interval, and swaps in each refreshed
// access token with an `auth` frame. What to subscribe to after a (re)connect is the app's
// business: it listens for "open" and re-subscribes with `since_seq`.

import { SignedOut } from "./session.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const TOKEN_EXPIRED = 4401;

export class Realtime extends EventTarget {
  constructor(session) {
    super();
    this.session = session;
    this.state = "idle"; // idle | connecting | online | reconnecting | offline
    this.retryAt = 0;
    this._ws = null;
    this._attempt = 0;
    this._everOpened = false;
    this._retryTimer = null;
    this._heartbeat = null;
    this._lastFrameAt = 0;
    this._stopped = true;

    session.addEventListener("refreshed", () => this._sendToken());
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => {
      if (this.state !== "online") this._setState("offline");
    });
  }

  start() {
    this._stopped = false;
    this._connect();
  }

  stop() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    this._teardown(1000, "signed out");
    this._everOpened = false;
    this._attempt = 0;
    this._setState("idle");
  }

  get open() {
    return this.state === "online";
  }

  /** Send a frame if the socket is up; false otherwise (the caller keeps it for later). */
  send(frame) {
    const ws = this._ws;
    if (!this.open || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** Skip the wait (the "Reconnect now" button, the browser coming back online). */
  reconnectNow() {
    if (this._stopped || this.state === "online" || this.state === "connecting") return;
    clearTimeout(this._retryTimer);
    this._attempt = 0;
    this._connect();
  }

  async _connect() {
    clearTimeout(this._retryTimer);
    this._setState(this._everOpened ? "reconnecting" : "connecting", { trying: true });
    try {
      await this.session.ensureFresh();
    } catch (error) {
      if (error instanceof SignedOut) return;
      this._retry();
      return;
    }
    if (this._stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = encodeURIComponent(this.session.accessToken);
    const ws = new WebSocket(`${scheme}//${location.host}/ws?token=${token}`);
    this._ws = ws;
    let greeted = false;
    ws.onmessage = (event) => {
      this._lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        greeted = true;
        this._attempt = 0;
        this._everOpened = true;
        this._startHeartbeat(frame.heartbeat_interval);
        this._setState("online");
        this.dispatchEvent(new CustomEvent("open", { detail: frame }));
      } else if (frame.type === "error" && frame.ref === "auth") {
        // The fresh token was refused: start over with a new one.
        this._teardown(4000, "token refused");
        this._closed(TOKEN_EXPIRED, true);
      } else if (frame.type !== "pong" && frame.type !== "authenticated") {
        this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
      }
    };
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._stopHeartbeat();
      this._closed(event.code, greeted);
    };
  }

  async _closed(code, greeted) {
    if (this._stopped) return;
    this._setState(navigator.onLine ? "reconnecting" : "offline", { trying: true });
    this.dispatchEvent(new CustomEvent("closed", { detail: { code } }));
    if (code === TOKEN_EXPIRED) {
      // Expired or revoked: a refresh tells which (a revoked session signs us out).
      try {
        await this.session.refresh();
      } catch (error) {
        if (error instanceof SignedOut) return;
      }
      if (this._attempt === 0) {
        this._attempt = 1;
        this._connect();
        return;
      }
    } else if (!greeted && this._attempt > 0 && navigator.onLine) {
      // The handshake itself failed twice: a refused token looks like that (HTTP 403), so
      // check the session; a REST call refreshes on 401 and signs out if that fails too.
      try {
        await this.session.request("GET", "/users/me");
      } catch (error) {
        if (error instanceof SignedOut) return;
      }
    }
    this._retry();
  }

  _retry() {
    if (this._stopped) return;
    // Full jitter over an exponential window, so a restarted server is not hit by every
    // client at the same instant.
    const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this._attempt);
    const delay = window / 2 + Math.random() * (window / 2);
    this._attempt += 1;
    this.retryAt = Date.now() + delay;
    this._setState(navigator.onLine ? "reconnecting" : "offline");
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _sendToken() {
    if (this.open) {
      this._ws.send(
        JSON.stringify({ type: "auth", token: this.session.accessToken, ref: "auth" }),
      );
    }
  }

  _startHeartbeat(intervalSeconds) {
    this._stopHeartbeat();
    const interval = Math.max(1, intervalSeconds || 30) * 1000;
    this._heartbeat = setInterval(() => {
      if (Date.now() - this._lastFrameAt > interval * 2.5) {
        // Nothing heard for too long: the connection is dead even if no close came.
        const ws = this._ws;
        this._teardown(4000, "heartbeat timeout");
        if (ws) this._closed(1006, true);
        return;
      }
      this.send({ type: "ping" });
    }, interval);
  }

  _stopHeartbeat() {
    clearInterval(this._heartbeat);
    this._heartbeat = null;
  }

  _teardown(code, reason) {
    this._stopHeartbeat();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    }
  }

  _setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...extra } }));
  }
}
