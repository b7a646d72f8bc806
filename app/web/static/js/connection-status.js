// How the socket is doing: the pill in the sidebar, the "Connection lost" banner with its
// countdown and a "Reconnect now" button, and the composer dimmed while not connected.

import { $, clear, h, setText } from "./dom.js";
import { invalidate, onRender } from "./render.js";

const CONNECTION_TEXT = {
  idle: "Offline",
  connecting: "Connecting…",
  online: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export function showConnection(realtime) {
  function renderConnection() {
    const state = realtime.state;
    const pill = $("connection");
    pill.dataset.state = state;
    setText(pill, CONNECTION_TEXT[state] || state);
    const banner = $("banner");
    if (state === "reconnecting" || state === "offline") {
      const seconds = Math.max(0, Math.ceil((realtime.retryAt - Date.now()) / 1000));
      const why = state === "offline" ? "You are offline." : "Connection lost.";
      const when = seconds > 0 ? ` Reconnecting in ${seconds}\u00a0s…` : " Reconnecting…";
      clear(banner);
      banner.append(
        h("span", {}, why + when),
        h(
          "button",
          { type: "button", class: "link", onclick: () => realtime.reconnectNow() },
          "Reconnect now",
        ),
      );
      banner.dataset.kind = "warning";
      banner.hidden = false;
    } else if (banner.dataset.kind === "warning") {
      banner.hidden = true;
      banner.dataset.kind = "";
    }
    $("composer").classList.toggle("disconnected", state !== "online");
  }

  onRender("connection", renderConnection);
  // The countdown in the banner ticks.
  setInterval(() => {
    if (realtime.state === "reconnecting" || realtime.state === "offline") invalidate("connection");
  }, 1000);
}
