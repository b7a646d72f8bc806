// Parley's web page: creates the session and the socket, hands them to the views, and
// switches between the signed-out screen and the chat.
//
// One WebSocket serves every room. After each (re)connect the page subscribes to every room
// the user is a member of, each with `since_seq` = the last seq it has seen there, so unread
// badges, presence and the open conversation all stay live and a resume misses nothing. The
// cost is one subscription per joined room, which the server holds cheaply; a page in
// thousands of rooms would rather subscribe to the open one and poll GET /rooms for badges.

import { createAuthView } from "./auth-view.js";
import { wireComposer } from "./composer.js";
import { showConnection } from "./connection-status.js";
import { createConversation } from "./conversation.js";
import { wireDialogs } from "./dialogs.js";
import { $, setText } from "./dom.js";
import { wireDms } from "./dms.js";
import { wireDrawer } from "./drawer.js";
import { followRealtime } from "./frames.js";
import { showMembers } from "./members.js";
import { createMessageActions } from "./message-actions.js";
import { report } from "./notices.js";
import { createOutbox } from "./outbox.js";
import { createReactions } from "./reactions.js";
import { createReadMarkers } from "./read-markers.js";
import { Realtime } from "./realtime.js";
import { invalidate } from "./render.js";
import { createRoomSync } from "./room-sync.js";
import { roomFromHash, startRouting } from "./router.js";
import { wireSearch } from "./search.js";
import { Session, SignedOut } from "./session.js";
import { renderMe, showRoomList } from "./sidebar.js";
import { clearState, state } from "./state.js";
import { createThread } from "./thread.js";

const BOOT_RETRY_MS = 3000;

const session = new Session();
const realtime = new Realtime(session);

const outbox = createOutbox({ realtime });
const sync = createRoomSync({ session, realtime, outbox });
const readMarkers = createReadMarkers({ session, realtime });
const actions = createMessageActions({ session, outbox });
const reactions = createReactions({ session });
actions.pickReaction = reactions.openPicker;
actions.toggleReaction = reactions.toggle;
const thread = createThread({ session, outbox, actions });
actions.openThread = thread.open;
const conversation = createConversation({ sync, actions, readMarkers, thread });
const dms = wireDms({ session, sync });
showRoomList();
showConnection(realtime);
showMembers(realtime, { startDm: dms.start });
wireDrawer();
wireComposer({ realtime, outbox, startEdit: actions.edit });
wireDialogs({ session, sync });
wireSearch({ session, jumpTo: conversation.jumpTo });
followRealtime({ realtime, sync, outbox, conversation, thread });
startRouting(conversation.open);
const authView = createAuthView({ session, onSignedIn: enterApp });

async function enterApp() {
  state.me = session.user;
  $("boot").hidden = true;
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  renderMe();
  invalidate("connection", "header", "timeline");
  try {
    await sync.loadRooms();
  } catch (error) {
    report(error);
  }
  realtime.start();
  sync.start();
  conversation.open(roomFromHash());
}

function leaveApp(reason) {
  realtime.stop();
  sync.stop();
  clearState();
  conversation.reset();
  authView.show(reason);
}

session.addEventListener("signedout", (event) => leaveApp(event.detail));

$("logout").addEventListener("click", () => {
  // Close the socket first: logging out closes it from the server side with 4401, which
  // would otherwise look like an expired token worth refreshing.
  realtime.stop();
  session.logout().catch(() => {});
});

window.addEventListener("focus", () => {
  // Nothing announces rooms created elsewhere: look again when the person comes back.
  if (state.me) sync.refreshRoomsSoon();
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && session.signedIn) {
    session.ensureFresh().catch(() => {});
  }
});

async function boot() {
  try {
    if (await session.resume()) {
      await enterApp();
      return;
    }
  } catch (error) {
    if (!(error instanceof SignedOut)) {
      setText($("boot").querySelector("p"), "Cannot reach Parley. Retrying…");
      setTimeout(boot, BOOT_RETRY_MS);
      return;
    }
  }
  // A stored session that ended has already shown the login form, with the reason.
  if (!authView.shown) authView.show(null);
}

boot();
