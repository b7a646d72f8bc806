// The signed-out screen: log in or sign up, with each problem said plainly on the form.

import { $, inert } from "./dom.js";
import { ApiError } from "./session.js";

export function createAuthView({ session, onSignedIn }) {
  const form = $("auth-form");
  let mode = "login";

  function setMode(next) {
    mode = next;
    for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.mode === next));
    }
    $("display-name-field").hidden = next !== "signup";
    $("auth-hint").hidden = next !== "signup";
    $("auth-submit").textContent = next === "signup" ? "Create account" : "Log in";
    form.elements.password.autocomplete = next === "signup" ? "new-password" : "current-password";
    showError("");
  }

  function showError(text) {
    const node = $("auth-error");
    node.textContent = inert(text);
    node.hidden = !text;
  }

  async function submit(event) {
    event.preventDefault();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!username || !password) {
      showError("Enter your username and password.");
      return;
    }
    if (mode === "signup") {
      const problem = validateSignup(username, password);
      if (problem) {
        showError(problem);
        return;
      }
    }
    const button = $("auth-submit");
    button.disabled = true;
    showError("");
    try {
      if (mode === "signup") {
        await session.signup(username, password, form.elements.display_name.value.trim());
      } else {
        await session.login(username, password);
      }
      form.reset();
      await onSignedIn();
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 401) showError("Wrong username or password.");
        else if (error.status === 409) showError("That username is taken. Try another one.");
        else showError(error.message);
      } else {
        showError("Cannot reach the server. Try again in a moment.");
      }
    } finally {
      button.disabled = false;
    }
  }

  /** Show the form, with `reason` (a session that ended, say) as its error if given. */
  function show(reason) {
    $("boot").hidden = true;
    $("app-view").hidden = true;
    $("auth-view").hidden = false;
    setMode(mode);
    if (reason) showError(reason);
    document.title = "Parley";
    form.elements.username.focus();
  }

  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.addEventListener("click", () => setMode(tab.dataset.mode));
  }
  form.addEventListener("submit", submit);

  return {
    show,
    get shown() {
      return !$("auth-view").hidden;
    },
  };
}

function validateSignup(username, password) {
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(username)) {
    return "Usernames are 3–32 letters, digits, “_”, “.” or “-”.";
  }
  if (password.length < 8) return "Passwords need at least 8 characters.";
  return "";
}
