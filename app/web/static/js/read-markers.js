// Read markers: mark the open room read up to the newest message actually on screen, when
// the reader scrolls, comes back to the tab, or new rows are drawn (never for a hidden tab).

import { $ } from "./dom.js";
import { invalidate } from "./render.js";
import { currentRoom, state } from "./state.js";
import { Timeline } from "./timeline.js";

const SETTLE_MS = 150;

export function createReadMarkers({ session, realtime }) {
  let timer = null;

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, SETTLE_MS);
  }

  /** Mark read up to the newest message actually on screen (never for a hidden tab). */
  function check() {
    const room = currentRoom();
    if (!room || !room.member || !room.loaded || document.visibilityState !== "visible") return;
    const view = $("timeline");
    if (view.hidden) return;
    const bottom = view.getBoundingClientRect().bottom;
    const rows = $("messages").querySelectorAll("li.msg[data-seq]");
    let seq = 0;
    for (let i = rows.length - 1; i >= 0; i -= 1) {
      if (rows[i].getBoundingClientRect().top < bottom - 4) {
        seq = Timeline.seqOf(rows[i]);
        break;
      }
    }
    if (seq && room.markRead(seq, state.me.id)) {
      if (!realtime.send({ type: "read", room_id: room.id, seq })) {
        session.request("PUT", `/rooms/${room.id}/read`, { json: { seq } }).catch(() => {});
      }
      invalidate("sidebar");
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") schedule();
  });
  window.addEventListener("focus", schedule);

  return { check, schedule };
}
