// Drawing, batched: state changes mark parts of the page dirty; one task later each dirty
// part is drawn once, in a fixed order, by the view that registered to draw it.

import { state } from "./state.js";

// "title" (the window title) is drawn on every pass: it sums the unread counts of all rooms.
// So is "search" (the search box and its results follow whichever room is open): it is cheap.
const ORDER = ["sidebar", "header", "search", "timeline", "typing", "people", "connection", "title"];

const painters = new Map(); // part -> function that draws it
const dirty = new Set();
let queued = false;

/** Register the function that draws `part`. */
export function onRender(part, draw) {
  if (!ORDER.includes(part)) throw new Error(`onRender: unknown part ${part}`);
  painters.set(part, draw);
}

/** Mark parts as out of date; they are drawn on the next task. */
export function invalidate(...parts) {
  for (const part of parts) dirty.add(part);
  if (!queued) {
    queued = true;
    setTimeout(() => renderNow(), 0);
  }
}

/** Draw now whatever is dirty, plus `parts` (when the caller measures the result next). */
export function renderNow(...parts) {
  queued = false;
  for (const part of parts) dirty.add(part);
  const due = new Set(dirty);
  dirty.clear();
  if (!state.me) return;
  due.add("title");
  due.add("search");
  for (const part of ORDER) if (due.has(part)) painters.get(part)?.();
}
