// Building DOM nodes without ever parsing HTML: user strings only reach the page as text
// nodes (textContent), so a message like "<script>" is shown, never run. Every string goes
// through `inert` on the way, so invisible controls are shown rather than obeyed.

// C0 controls but tab and newline, DEL, C1 controls (as the terminal client shows them).
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// Invisible characters that reorder or hide text: bidi marks, embeddings, overrides and
// isolates, the Arabic letter mark, line and paragraph separators.
const INVISIBLE = /[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function caret(char) {
  const code = char.charCodeAt(0);
  if (code === 0x7f) return "^?";
  if (code >= 0x80) return `M-^${String.fromCharCode(code - 0x80 + 0x40)}`; // C1, as `cat -v`
  return `^${String.fromCharCode(code + 0x40)}`; // ESC is ^[
}

/** `text` with control characters in caret notation and invisible reordering characters
 * as <U+202E>: a name or message can never reverse or hide what surrounds it. */
export function inert(text) {
  return String(text)
    .replace(CONTROL, caret)
    .replace(INVISIBLE, (char) => `<U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
}

/**
 * h("li", {class: "x", dataset: {seq: 3}, onclick: fn}, "text", childNode, [more])
 * Strings become text nodes; null/false children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = inert(value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else if (key === "href") node.setAttribute(key, String(value));
    else node.setAttribute(key, inert(value)); // titles, labels: user strings too
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(inert(child)));
  }
}

export function $(id) {
  return document.getElementById(id);
}

export function setText(node, text) {
  const shown = inert(text);
  if (node.textContent !== shown) node.textContent = shown;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Make `parent`'s children exactly `nodes`, in order, moving only what is out of place. */
export function reconcile(parent, nodes) {
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      parent.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = next;
  }
}
