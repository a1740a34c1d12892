import { getContext, setContext } from "svelte";
import type { InboxMessageFragment } from "$lib/graphql/generated/graphql";

/** The signed-in account's unread count (null while unknown) and the messages arriving live. */
export class Inbox {
  unread = $state<number | null>(null);
  #listeners: ((message: InboxMessageFragment) => void)[] = [];

  /** A message arrived over the live connection. */
  received(message: InboxMessageFragment): void {
    if (!message.readAt && this.unread !== null) this.unread += 1;
    for (const listener of this.#listeners) listener(message);
  }

  /** Calls `listener` for each message arriving live; returns the way to stop. */
  onMessage(listener: (message: InboxMessageFragment) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }
}

const KEY = Symbol("inbox");

export function setInbox(inbox: Inbox): Inbox {
  return setContext(KEY, inbox);
}

export function getInbox(): Inbox {
  const inbox = getContext<Inbox | undefined>(KEY);
  if (!inbox) throw new Error("getInbox() outside the studio layout");
  return inbox;
}

/** "3 unread messages" for screen readers and titles. */
export function unreadLabel(count: number): string {
  return count === 1 ? "1 unread message" : `${count} unread messages`;
}

/** What a badge shows: the count, capped at 99+. */
export function badgeText(count: number): string {
  return count > 99 ? "99+" : String(count);
}
