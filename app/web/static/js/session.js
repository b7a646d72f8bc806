// The signed-in session: tokens, their refresh, and REST calls made with them.
//
// Trade-off: the refresh token lives in localStorage so that a reload or a new tab stays
// signed in. Any script running in this origin could read it, which is why the page never
// renders user data as HTML and is served with a strict Content-Security-Policy. The access
// token stays in memory only. Refresh tokens rotate on every use and a reused one revokes
// the whole session, so a stolen copy stops working the moment either side uses it again.

const REFRESH_KEY = "parley.refresh_token";
const LOCK_NAME = "parley.refresh";
const REFRESH_LEAD_MS = 60_000; // refresh this long before the access token expires
const RETRY_MS = 5_000; // after a refresh failed for a network reason

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export class SignedOut extends Error {}

/** FastAPI's `detail` as one readable sentence: a string, or the 422 list of problems. */
export function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const field = (item.loc || []).filter((part) => part !== "body" && part !== "query");
        const message = String(item.msg || "is invalid").replace(/^Value error, /, "");
        return field.length ? `${field.join(".")}: ${message}` : message;
      })
      .join("; ");
  }
  return "";
}

export class Session extends EventTarget {
  constructor() {
    super();
    this.accessToken = null;
    this.expiresAt = 0; // ms since the epoch, by this browser's clock
    this.user = null;
    this._timer = null;
    this._refreshing = null;
    this._lastRefreshToken = null;
    window.addEventListener("storage", (event) => {
      // Logged out in another tab: follow it here.
      if (event.key === REFRESH_KEY && event.newValue === null && this.accessToken) {
        this._end("You logged out in another tab.");
      }
    });
  }

  get signedIn() {
    return this.accessToken !== null;
  }

  /** Continue a stored session (a reload, a new tab). False if there is none or it ended. */
  async resume() {
    if (!localStorage.getItem(REFRESH_KEY)) return false;
    try {
      await this.refresh();
    } catch (error) {
      if (error instanceof SignedOut) return false;
      throw error;
    }
    this.user = await this.request("GET", "/users/me");
    return true;
  }

  async login(username, password) {
    const form = new URLSearchParams({ username, password });
    const response = await fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
    const tokens = await parse(response);
    this._adopt(tokens);
    this.user = await this.request("GET", "/users/me");
  }

  async signup(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    const response = await fetch("/auth/signup", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    await parse(response);
    await this.login(username, password);
  }

  async logout() {
    const refreshToken = localStorage.getItem(REFRESH_KEY);
    try {
      if (this.accessToken) {
        await fetch("/auth/logout", {
          method: "POST",
          headers: this._headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ refresh_token: refreshToken }),
        });
      }
    } finally {
      this._end(null);
    }
  }

  /** Milliseconds left on the access token. */
  remaining() {
    return this.expiresAt - Date.now();
  }

  /** Refresh now if the token expires within the refresh lead (before a reconnect, say). */
  async ensureFresh() {
    if (!this.signedIn) throw new SignedOut();
    if (this.remaining() < Math.min(REFRESH_LEAD_MS, this._lead())) await this.refresh();
  }

  /**
   * Trade the stored refresh token for a new pair. One refresh at a time per page, and one
   * per browser across tabs (Web Locks): the tokens rotate, and presenting one that another
   * tab already used would revoke the session for every tab.
   */
  refresh() {
    if (!this._refreshing) {
      const run = () => this._refreshOnce();
      const locked =
        navigator.locks && navigator.locks.request
          ? navigator.locks.request(LOCK_NAME, run)
          : run();
      this._refreshing = locked.finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  async _refreshOnce() {
    const refreshToken = localStorage.getItem(REFRESH_KEY);
    if (!refreshToken) {
      this._end("Your session ended. Please log in again.");
      throw new SignedOut();
    }
    let response;
    try {
      response = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
    } catch (error) {
      this._schedule(RETRY_MS);
      throw error;
    }
    if (response.status === 401) {
      this._end("Your session ended. Please log in again.");
      throw new SignedOut();
    }
    if (!response.ok) {
      this._schedule(RETRY_MS);
      throw new ApiError(response.status, await detailOf(response));
    }
    this._adopt(await response.json());
    this.dispatchEvent(new CustomEvent("refreshed", { detail: this.accessToken }));
  }

  /** A REST call as the signed-in user. A 401 refreshes the token once and retries. */
  async request(method, path, { json, query } = {}) {
    const url = query ? `${path}?${new URLSearchParams(query)}` : path;
    const send = () => {
      const init = { method, headers: this._headers() };
      if (json !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(json);
      }
      return fetch(url, init);
    };
    if (!this.signedIn) throw new SignedOut();
    let response = await send();
    if (response.status === 401) {
      await this.refresh();
      response = await send();
    }
    return parse(response);
  }

  _headers(extra = {}) {
    return { ...extra, Authorization: `Bearer ${this.accessToken}` };
  }

  _adopt(tokens) {
    this.accessToken = tokens.access_token;
    this._ttl = tokens.expires_in * 1000;
    this.expiresAt = Date.now() + this._ttl;
    localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    this._schedule(this._ttl - this._lead());
  }

  _lead() {
    // About a minute ahead; with very short-lived tokens, half their life.
    return Math.min(REFRESH_LEAD_MS, (this._ttl || 0) / 2);
  }

  _schedule(delay) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      this.refresh().catch(() => {});
    }, Math.max(0, delay));
  }

  _end(reason) {
    clearTimeout(this._timer);
    const wasSignedIn = this.signedIn;
    this.accessToken = null;
    this.expiresAt = 0;
    this.user = null;
    localStorage.removeItem(REFRESH_KEY);
    if (wasSignedIn || reason) {
      this.dispatchEvent(new CustomEvent("signedout", { detail: reason }));
    }
  }
}

async function detailOf(response) {
  try {
    return (await response.json()).detail;
  } catch {
    return response.statusText;
  }
}

async function parse(response) {
  if (response.status === 204) return null;
  if (!response.ok) throw new ApiError(response.status, await detailOf(response));
  return response.json();
}
