// What the page knows about each room: its listing, the messages it holds, who is online
// and typing, and the unread count. No DOM here.
//
// Unread counts: the server's `unread_count` is taken at a sync point (`syncSeq`, the room's
// last_seq in that listing); messages from others after it are counted one by one as they
// arrive (`extra`), and a read marker clears what it covers. Reading our own marker back
// from a listing cannot resurrect a count we already cleared, because `readSeq` is kept.

const TYPING_MS = 6000;

export class Room {
  constructor(info) {
    this.id = info.id;
    this.info = info;
    this.messages = new Map(); // seq -> Message, every message held (loaded pages + live)
    this.loaded = false; // the newest page of history was fetched
    this.loading = null; // the promise of that fetch
    this.hasMoreBefore = true;
    this.loadingOlder = false;
    this.subscribed = false;
    this.knownLastSeq = info.last_seq ?? 0;
    this.readSeq = 0; // our read marker, as far as we know
    this.baseUnread = info.unread_count ?? 0;
    this.syncSeq = info.last_seq ?? 0;
    this.extra = new Set(); // others' messages after syncSeq, not yet read
    this.online = new Map(); // user id -> User
    this.typing = new Map(); // user id -> {user, until}
    this.newSince = null; // seq of the first unread message when the room was opened
    // The room's change number up to which every change has reached us through the
    // subscription (replay, then live, in rev order): a resume asks for what came after it.
    // Null until a subscription has told us where it starts.
    this.lastRev = null;
    this.resumingByRev = false; // the subscription under way asked for since_rev
    this.knownBeforeResume = 0; // knownLastSeq when it was asked for
    // A window of older history around a search hit: newer messages exist past what we
    // hold, so live ones are counted but not held (they would open a hole) until the reader
    // scrolls down to the newest or jumps back to it.
    this.hasMoreAfter = false;
    this.members = new Map(); // user id -> {user, role}, once the members list was fetched
    this.membersLoaded = false;
    this.askedAbout = new Set(); // user ids not among the members, already looked up
    this.baseMentions = info.mention_count ?? 0; // from the listing, at syncSeq
    this.extraMentions = new Set(); // seqs of messages mentioning us after syncSeq, unread
  }

  get mentions() {
    return this.baseMentions + this.extraMentions.size;
  }

  /** A direct message: the other person (User), or null for an ordinary room. */
  get dmWith() {
    return this.info.kind === "dm" ? this.info.dm_with || null : null;
  }

  get member() {
    return this.info.role !== null && this.info.role !== undefined;
  }

  get unread() {
    return this.baseUnread + this.extra.size;
  }

  /** Highest seq held (0 if none): what a resume asks to continue after. */
  get newestSeq() {
    let newest = 0;
    for (const seq of this.messages.keys()) if (seq > newest) newest = seq;
    return newest;
  }

  get oldestSeq() {
    let oldest = Infinity;
    for (const seq of this.messages.keys()) if (seq < oldest) oldest = seq;
    return oldest === Infinity ? 0 : oldest;
  }

  /** The end of the unbroken run of messages held from the oldest one on (0 if none). */
  get contiguousSeq() {
    let seq = this.oldestSeq;
    if (!seq) return 0;
    while (this.messages.has(seq + 1)) seq += 1;
    return seq;
  }

  /** The seq to resume after on (re)subscribe, or null to start live. */
  get resumeSeq() {
    const held = this.contiguousSeq;
    if (held) return held;
    return this.knownLastSeq || null;
  }

  sorted() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** A listing from the server (GET /rooms, GET /rooms/{id}, room.updated). */
  update(info) {
    const role = "role" in info ? info.role : this.info.role;
    const unread = "unread_count" in info ? info.unread_count : undefined;
    const mentions = "mention_count" in info ? info.mention_count : undefined;
    this.info = { ...this.info, ...info, role };
    this.knownLastSeq = Math.max(this.knownLastSeq, info.last_seq ?? 0);
    if (unread !== undefined && unread !== null && (info.last_seq ?? 0) >= this.syncSeq) {
      this.syncSeq = info.last_seq;
      this.baseUnread = this.readSeq >= this.syncSeq ? 0 : unread;
      for (const seq of this.extra) if (seq <= this.syncSeq) this.extra.delete(seq);
      if (mentions !== undefined && mentions !== null) {
        this.baseMentions = this.readSeq >= this.syncSeq ? 0 : mentions;
        for (const seq of this.extraMentions) if (seq <= this.syncSeq) this.extraMentions.delete(seq);
      }
    }
  }

  /** A change the subscription delivered (in rev order): everything up to it has come. */
  sawRev(rev) {
    if (typeof rev === "number" && (this.lastRev === null || rev > this.lastRev)) {
      this.lastRev = rev;
    }
  }

  /** Add or replace a message, keeping whichever state is newer (the higher `rev`: a page
   * fetched over REST may be older than a frame that overtook it). True if it is new to us. */
  put(message, myId) {
    const known = this.messages.get(message.seq);
    if (known && (known.rev ?? 0) > (message.rev ?? 0)) return false;
    if (!known && this.hasMoreAfter && message.seq > this.newestSeq) {
      // Past the window we hold: count it, fetch it when the reader gets there.
      this.knownLastSeq = Math.max(this.knownLastSeq, message.seq);
      this.countUnread(message, myId);
      return false;
    }
    this.messages.set(message.seq, message);
    this.knownLastSeq = Math.max(this.knownLastSeq, message.seq);
    this.typing.delete(message.author.id);
    if (known) {
      if (message.deleted) {
        this.extra.delete(message.seq);
        this.extraMentions.delete(message.seq);
      }
      return false;
    }
    this.countUnread(message, myId);
    return true;
  }

  /** A message new to us: unread (and a mention of us) if someone else wrote it after what
   * the listing counted and after our read marker. */
  countUnread(message, myId) {
    if (
      message.author.id !== myId &&
      !message.deleted &&
      message.seq > this.syncSeq &&
      message.seq > this.readSeq
    ) {
      this.extra.add(message.seq);
      if ((message.mentions || []).includes(myId)) this.extraMentions.add(message.seq);
    }
  }

  /** A `mention` frame: the message names us (counted once, whether or not it came as a
   * `message` frame too). */
  noteMention(message, myId) {
    if (message.author.id !== myId && message.seq > this.syncSeq && message.seq > this.readSeq) {
      this.extraMentions.add(message.seq);
      return true;
    }
    return false;
  }

  markDeleted(seq, rev) {
    const message = this.messages.get(seq);
    if (message && (message.rev ?? 0) <= (rev ?? Infinity)) {
      this.messages.set(seq, { ...message, deleted: true, body: "", reactions: [], rev: rev ?? message.rev });
    }
    this.extra.delete(seq);
    this.extraMentions.delete(seq);
  }

  /**
   * A message in some state we did not see created (an edit, a paged change): taken if we
   * hold it, or if it is newer than every message we knew of (`knownSeq`), so new to us.
   * An older one we do not hold is left for when its page of history is fetched, in its
   * current state, so that no lone old message opens a hole in the timeline.
   */
  putChanged(message, myId, knownSeq = this.knownLastSeq) {
    if (this.messages.has(message.seq) || message.seq > Math.max(knownSeq, this.newestSeq)) {
      return this.put(message, myId);
    }
    return false;
  }

  /** Our read marker moved to `seq` (from this page or another tab of ours). */
  markRead(seq, myId) {
    if (seq <= this.readSeq) return false;
    this.readSeq = seq;
    for (const s of this.extra) if (s <= seq) this.extra.delete(s);
    for (const s of this.extraMentions) if (s <= seq) this.extraMentions.delete(s);
    if (seq >= this.syncSeq) {
      this.baseUnread = 0;
      this.baseMentions = 0;
    } else if (this.loaded && this.oldestSeq <= seq + 1) {
      // Part of the synced count read: recount what we hold between the marker and syncSeq.
      this.baseUnread = this.sorted().filter(
        (m) => m.seq > seq && m.seq <= this.syncSeq && !m.deleted && m.author.id !== myId,
      ).length;
      this.baseMentions = this.sorted().filter(
        (m) =>
          m.seq > seq &&
          m.seq <= this.syncSeq &&
          !m.deleted &&
          m.author.id !== myId &&
          (m.mentions || []).includes(myId),
      ).length;
    }
    return true;
  }

  /** Where the "new messages" line goes: the first unread message from someone else. */
  firstUnreadSeq(myId) {
    let remaining = this.unread;
    if (!remaining) return null;
    const messages = this.sorted();
    let first = null;
    for (let i = messages.length - 1; i >= 0 && remaining > 0; i -= 1) {
      const message = messages[i];
      if (message.deleted || message.author.id === myId) continue;
      remaining -= 1;
      first = message.seq;
    }
    // Everything since the room began is new (just joined): a line at the top says nothing.
    if (first === null || (!this.hasMoreBefore && first === messages[0].seq)) return null;
    return first;
  }

  setTyping(user) {
    this.typing.set(user.id, { user, until: Date.now() + TYPING_MS });
  }

  /** Who is typing now (expired entries dropped). */
  typists() {
    const now = Date.now();
    for (const [id, entry] of this.typing) if (entry.until <= now) this.typing.delete(id);
    return [...this.typing.values()].map((entry) => entry.user);
  }

  forgetLive() {
    this.subscribed = false;
    this.online.clear();
    this.typing.clear();
  }
}

/** "Ann is typing…", "Ann and Bo are typing…", "Several people are typing…" */
export function typingText(users) {
  const names = users.map((user) => user.display_name || user.username);
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return "Several people are typing…";
}
