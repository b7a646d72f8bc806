// Small presentation helpers: times, days, avatars, links. All of them return text or
// nodes built with createElement; none of them parses HTML.

import { h, inert } from "./dom.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  month: "long",
  day: "numeric",
});
const yearDayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });

export function clock(date) {
  return timeFormat.format(date);
}

export function fullDate(date) {
  return fullFormat.format(date);
}

export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

export function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(date) === dayKey(today)) return "Today";
  if (dayKey(date) === dayKey(yesterday)) return "Yesterday";
  return date.getFullYear() === today.getFullYear()
    ? dayFormat.format(date)
    : yearDayFormat.format(date);
}

export function initials(user) {
  const name = (user.display_name || user.username || "?").trim();
  const parts = name.split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : name.slice(0, 2);
  return letters.toUpperCase();
}

/** A stable hue per user, so people are easy to tell apart. */
export function hue(userId) {
  return (Number(userId) * 137) % 360;
}

export function avatar(user, extraClass = "") {
  const node = h("span", { class: `avatar ${extraClass}`.trim(), "aria-hidden": "true" });
  node.textContent = inert(initials(user));
  node.style.setProperty("--hue", String(hue(user.id)));
  return node;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;
// A mention as the server reads one (contract, "Mentions"): `@` at the start or after a
// character that is not a letter, digit, `_`, `.`, `-` or `@`, then username characters,
// less any trailing `.` and `-`.
const MENTION_PATTERN = /(?<![\p{L}\p{N}_.\-@])@([A-Za-z0-9_.-]+)/gu;

/** The username a mention match names (trailing dots and dashes are not part of it). */
function mentionedName(match) {
  return match[1].replace(/[.-]+$/, "");
}

/**
 * A message body as text nodes, with http(s) links made clickable and mentions marked
 * (still text only). `mentioned` maps the lower-cased usernames the message mentions to
 * whether that is the reader.
 */
export function bodyNodes(text, mentioned = new Map()) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    if (match.index > last) nodes.push(...mentionNodes(text.slice(last, match.index), mentioned));
    const link = h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer nofollow" });
    link.textContent = inert(match[0]);
    nodes.push(link);
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(...mentionNodes(text.slice(last), mentioned));
  return nodes;
}

function mentionNodes(text, mentioned) {
  if (!mentioned.size) return [document.createTextNode(inert(text))];
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(MENTION_PATTERN)) {
    const name = mentionedName(match);
    const key = name.toLowerCase();
    if (!mentioned.has(key)) continue;
    if (match.index > last) nodes.push(document.createTextNode(inert(text.slice(last, match.index))));
    const me = mentioned.get(key);
    nodes.push(
      h("span", { class: me ? "mention mention-me" : "mention", "data-testid": "mention" }, `@${name}`),
    );
    last = match.index + 1 + name.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(inert(text.slice(last))));
  return nodes;
}

export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}
