// The open conversation: opening a room, its header, the timeline of messages (scroll-back
// through history, staying at the newest message, the "new messages" button), the typing
// line, and the card to join a public room we are not in yet.

import { $, setText } from "./dom.js";
import { closeDrawer } from "./drawer.js";
import { report, toast } from "./notices.js";
import { invalidate, onRender, renderNow } from "./render.js";
import { roomLabel, showTitle } from "./room-title.js";
import { typingText } from "./rooms.js";
import { navigate } from "./router.js";
import { ApiError } from "./session.js";
import { currentRoom, pendingIn, state } from "./state.js";
import { Timeline } from "./timeline.js";

const STICK_TO_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 200; // this close to the top, fetch the page before

const HIGHLIGHT_MS = 2500;

export function createConversation({ sync, actions, readMarkers, thread }) {
  const timeline = new Timeline($("messages"), actions);
  const view = $("timeline");

  function renderHeader() {
    const room = currentRoom();
    if (room) showTitle($("room-name"), room);
    else setText($("room-name"), "Parley");
    setText($("room-topic"), room ? room.info.topic || "" : "");
    $("room-menu").hidden = !(room && room.member);
    const toggle = $("toggle-people");
    toggle.hidden = !(room && room.member);
    toggle.setAttribute("aria-expanded", String(state.peopleOpen));
  }

  function renderTimeline() {
    const room = currentRoom();
    const showMessages = Boolean(room && room.member);
    $("empty-state").hidden = Boolean(room);
    $("join-card").hidden = !room || room.member;
    view.hidden = !showMessages;
    $("composer-area").hidden = !showMessages;
    const threadShown = Boolean(state.thread && room && state.thread.roomId === room.id);
    $("people").hidden = !showMessages || !state.peopleOpen || threadShown;
    if (room && !room.member) {
      showTitle($("join-title"), room);
      setText($("join-topic"), room.info.topic || "You are not a member of this room yet.");
    }
    thread.render();
    if (!showMessages) {
      timeline.reset();
      return;
    }
    const atBottom = state.stickToBottom;
    timeline.render({
      room,
      me: state.me,
      pending: pendingIn(room.id),
      editing: state.editing,
      confirming: state.confirming,
    });
    const top = $("history-top");
    if (!room.loaded) setText(top, "Loading messages…");
    else if (room.loadingOlder) setText(top, "Loading older messages…");
    else if (room.hasMoreBefore) setText(top, "");
    else if (room.dmWith) setText(top, `This is the beginning of your conversation with ${roomLabel(room)}.`);
    else setText(top, `This is the beginning of ${roomLabel(room)}.`);
    top.dataset.state = room.loaded && !room.hasMoreBefore ? "start" : "more";
    if (atBottom && !room.hasMoreAfter) view.scrollTop = view.scrollHeight;
    updateJumpButton();
    readMarkers.check();
    // Too few rows to scroll means no scroll event will ever ask for older ones: ask now.
    if (room.loaded && room.hasMoreBefore && view.scrollHeight <= view.clientHeight) {
      setTimeout(() => loadOlder(room), 0);
    }
  }

  function renderTyping() {
    const room = currentRoom();
    setText($("typing"), room ? typingText(room.typists()) : "");
  }

  async function loadOlder(room) {
    if (!room.loaded || !room.hasMoreBefore || room.loadingOlder) return;
    room.loadingOlder = true;
    invalidate("timeline");
    try {
      const page = await sync.fetchOlder(room);
      const fromBottom = view.scrollHeight - view.scrollTop;
      for (const message of page.messages) room.put(message, state.me.id);
      room.hasMoreBefore = page.has_more;
      room.loadingOlder = false;
      if (room.id === state.openRoomId) {
        state.stickToBottom = false;
        renderNow("timeline");
        view.scrollTop = view.scrollHeight - fromBottom; // keep what the reader was looking at
      }
    } catch (error) {
      report(error);
    } finally {
      room.loadingOlder = false;
      invalidate("timeline");
    }
    if (room.id === state.openRoomId && view.scrollTop < LOAD_OLDER_PX) loadOlder(room);
  }

  function onScroll() {
    const room = currentRoom();
    const fromBottom = view.scrollHeight - view.scrollTop - view.clientHeight;
    // In a window of older history the bottom is not the newest message: nothing to follow.
    state.stickToBottom = fromBottom < STICK_TO_BOTTOM_PX && !room?.hasMoreAfter;
    updateJumpButton();
    readMarkers.schedule();
    if (room && view.scrollTop < LOAD_OLDER_PX) loadOlder(room);
    if (room && room.hasMoreAfter && fromBottom < LOAD_OLDER_PX) loadNewer(room);
  }

  async function loadNewer(room) {
    try {
      await sync.loadNewer(room);
    } catch (error) {
      report(error);
    }
  }

  function updateJumpButton() {
    const room = currentRoom();
    const jump = $("jump-latest");
    if (room && room.hasMoreAfter) {
      jump.hidden = false;
      setText(jump, "Jump to the newest ↓");
    } else if (state.stickToBottom) jump.hidden = true;
    else if (!jump.hidden) setText(jump, "New messages ↓");
  }

  /** Show message `seq` of room `roomId` in its place (a search hit), loading the history
   * around it if we do not hold it, and mark it for a moment. */
  async function jumpTo(roomId, seq) {
    const room = state.rooms.get(roomId);
    if (!room || roomId !== state.openRoomId) return;
    try {
      await sync.loadAround(room, seq);
    } catch (error) {
      report(error);
      return;
    }
    if (state.openRoomId !== roomId) return;
    state.stickToBottom = false;
    renderNow("timeline");
    const row = $("messages").querySelector(`.msg[data-seq="${seq}"]`);
    if (!row) return;
    row.scrollIntoView({ block: "center" });
    row.classList.add("highlight");
    setTimeout(() => row.classList.remove("highlight"), HIGHLIGHT_MS);
    onScroll();
  }

  async function backToLatest(room) {
    try {
      await sync.backToLatest(room);
    } catch (error) {
      report(error);
      return;
    }
    state.stickToBottom = true;
    renderNow("timeline");
    view.scrollTop = view.scrollHeight;
  }

  async function openRoom(roomId) {
    if (state.openRoomId !== roomId) {
      state.editing = null;
      state.confirming = null;
      state.stickToBottom = true;
      state.picking = null;
      const previous = currentRoom();
      if (previous) previous.newSince = null;
      // A window of older history is not kept: the room opens at its newest again.
      if (previous && previous.hasMoreAfter) {
        previous.messages.clear();
        previous.loaded = false;
        previous.hasMoreBefore = true;
        previous.hasMoreAfter = false;
      }
    }
    state.openRoomId = roomId;
    closeDrawer();
    invalidate("sidebar", "header", "timeline", "typing", "people");
    if (roomId === null) return;
    let room = state.rooms.get(roomId);
    if (!room) {
      try {
        room = await sync.fetchRoom(roomId);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          toast("That room does not exist, or it is private.", "info");
          navigate(null);
        } else report(error);
        return;
      }
    }
    if (!room.member) {
      invalidate("timeline", "header");
      return;
    }
    sync.loadMembers(room).catch(() => {}); // names for reactions and mentions; not vital
    try {
      await sync.loadLatest(room);
    } catch (error) {
      report(error);
      return;
    }
    if (state.openRoomId !== roomId) return;
    if (room.newSince === null) room.newSince = room.firstUnreadSeq(state.me.id);
    renderNow("timeline");
    const divider = $("messages").querySelector(".divider.new");
    if (divider) {
      divider.scrollIntoView({ block: "start" });
      onScroll();
    }
    if (window.matchMedia("(min-width: 720px)").matches) $("composer-input").focus();
  }

  async function joinOpenRoom() {
    const room = currentRoom();
    if (!room) return;
    try {
      await sync.join(room);
      await openRoom(room.id);
    } catch (error) {
      report(error);
    }
    invalidate("sidebar", "header", "timeline");
  }

  onRender("header", renderHeader);
  onRender("timeline", renderTimeline);
  onRender("typing", renderTyping);

  view.addEventListener("scroll", onScroll, { passive: true });
  $("jump-latest").addEventListener("click", () => {
    const room = currentRoom();
    if (room && room.hasMoreAfter) {
      backToLatest(room);
      return;
    }
    view.scrollTop = view.scrollHeight;
    state.stickToBottom = true;
    $("jump-latest").hidden = true;
  });
  // The view shrinks when a banner or a taller composer appears: stay at the newest message.
  new ResizeObserver(() => {
    if (state.stickToBottom) view.scrollTop = view.scrollHeight;
  }).observe(view);
  $("join-button").addEventListener("click", joinOpenRoom);

  return {
    open: openRoom,
    jumpTo,
    /** Leave a window of older history for the newest messages. */
    showNewest() {
      const room = currentRoom();
      if (room && room.hasMoreAfter) backToLatest(room);
    },
    reset: () => timeline.reset(),
    /** A new message arrived: offer a way down to it if the reader is scrolled up. */
    noteArrival() {
      if (!state.stickToBottom) $("jump-latest").hidden = false;
    },
  };
}
