// A room's name as the page shows it: "# name" for public rooms, a padlock for private ones,
// and the other person's name for a direct message (its server-chosen name is never shown).

import { clear, h } from "./dom.js";

/** The name as plain text (window title, notices). */
export function roomLabel(room) {
  const other = room.dmWith;
  if (other) return other.display_name || other.username;
  return room.info.visibility === "private" ? room.info.name : `# ${room.info.name}`;
}

/** The room's name after its icon: "#" for public rooms, a padlock for private ones. */
export function roomTitle(room) {
  const other = room.dmWith;
  if (other) {
    return [h("span", { class: "room-icon", "aria-hidden": "true" }, "@"), " ", other.display_name || other.username];
  }
  const icon =
    room.info.visibility === "private"
      ? lockIcon()
      : h("span", { class: "room-icon", "aria-hidden": "true" }, "#");
  return [icon, " ", room.info.name];
}

/** Make `node` show the room's title, and nothing else. */
export function showTitle(node, room) {
  clear(node);
  node.append(...roomTitle(room));
}

function lockIcon() {
  const svg = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(svg, "svg");
  icon.setAttribute("viewBox", "0 0 16 16");
  icon.setAttribute("class", "room-icon lock");
  icon.setAttribute("aria-label", "private");
  icon.setAttribute("role", "img");
  const path = document.createElementNS(svg, "path");
  path.setAttribute(
    "d",
    "M4 7V5a4 4 0 0 1 8 0v2h.5A1.5 1.5 0 0 1 14 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 2 13.5v-5A1.5 1.5 0 0 1 3.5 7H4zm2 0h4V5a2 2 0 1 0-4 0v2z",
  );
  icon.append(path);
  return icon;
}
