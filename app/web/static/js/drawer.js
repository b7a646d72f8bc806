// On a narrow screen the room list is a drawer over the conversation, with a scrim behind it.

import { $ } from "./dom.js";

export function openDrawer() {
  $("sidebar").classList.add("open");
  $("scrim").hidden = false;
}

export function closeDrawer() {
  $("sidebar").classList.remove("open");
  $("scrim").hidden = true;
}

export function wireDrawer() {
  $("toggle-sidebar").addEventListener("click", openDrawer);
  $("scrim").addEventListener("click", closeDrawer);
}
