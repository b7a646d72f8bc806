// Which room is open lives in the address (#/rooms/12), so a reload, a link, back and
// forward all land in the right room.

import { state } from "./state.js";

let open = () => {};

/** The room the address names, or null. */
export function roomFromHash() {
  const match = /^#\/rooms\/(\d+)$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

/** Open `roomId` (null: none) and put it in the address. */
export function navigate(roomId) {
  const hash = roomId === null ? "" : `#/rooms/${roomId}`;
  if (location.hash !== hash) {
    if (hash) location.hash = hash;
    else history.pushState(null, "", location.pathname);
  }
  open(roomId);
}

/** Open rooms with `openRoom`, and follow the address bar while someone is signed in. */
export function startRouting(openRoom) {
  open = openRoom;
  // hashchange alone: a hash change fires popstate too, and listening to both opened the
  // room twice. Going back to the bare address (no hash) fires hashchange as well.
  window.addEventListener("hashchange", () => {
    if (state.me) open(roomFromHash());
  });
}
