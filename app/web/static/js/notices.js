// Short notices in the corner ("toasts"), and the one way errors from a request are told.

import { $, h } from "./dom.js";
import { ApiError, SignedOut } from "./session.js";

export function toast(text, kind = "error") {
  let area = $("toasts");
  if (!area) {
    area = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(area);
  }
  const node = h("div", { class: `toast ${kind}`, "data-testid": "toast" }, text);
  area.append(node);
  setTimeout(() => node.remove(), 6000);
}

/** Tell the person a request failed (a sign-out has already said so on the login form). */
export function report(error) {
  if (error instanceof SignedOut) return;
  if (error instanceof ApiError) toast(error.message);
  else toast("Cannot reach the server. Check your connection and try again.");
}
