import type { Client } from "@urql/core";
import type { CombinedError } from "@urql/core";
import { getContext, setContext } from "svelte";
import { restartLiveConnection } from "$lib/graphql/client";
import { errorCode } from "$lib/graphql/errors";
import { MeDocument, type SessionAccountFragment } from "$lib/graphql/generated/graphql";

export type SessionStatus = "loading" | "signed-in" | "signed-out" | "error";

/**
 * Who is signed in, for the whole studio. `me` is asked once at start; sign-in, sign-out and account
 * changes update it directly; `refresh()` asks again. An UNAUTHENTICATED answer means "signed out".
 */
export class Session {
  status = $state<SessionStatus>("loading");
  account = $state<SessionAccountFragment | null>(null);
  /** Why the last load failed (network, server), when `status` is "error". */
  error = $state<CombinedError | null>(null);

  readonly #client: Client;
  // Answers to older requests lose against newer requests and direct updates.
  #request = 0;

  constructor(client: Client) {
    this.#client = client;
  }

  get signedIn(): boolean {
    return this.status === "signed-in";
  }

  get signedOut(): boolean {
    return this.status === "signed-out";
  }

  /** Asks the server who is signed in. */
  async refresh(): Promise<void> {
    const request = ++this.#request;
    const result = await this.#client.query(MeDocument, {}, { requestPolicy: "network-only" }).toPromise();
    if (request !== this.#request) return;
    if (result.data) {
      this.account = result.data.me;
      this.status = "signed-in";
      this.error = null;
    } else if (result.error && errorCode(result.error) === "UNAUTHENTICATED") {
      this.account = null;
      this.status = "signed-out";
      this.error = null;
    } else if (result.error) {
      // Keep a known account through a passing network error; only an unknown state becomes "error".
      this.error = result.error;
      if (!this.account) this.status = "error";
    }
  }

  /** After a successful `signIn`: the account from its answer; the live connection takes the new cookie. */
  signedInAs(account: SessionAccountFragment): void {
    this.#request++;
    this.account = account;
    this.status = "signed-in";
    this.error = null;
    restartLiveConnection();
  }

  /** After signing out, deleting the account or losing the session. */
  signedOutNow(): void {
    this.#request++;
    this.account = null;
    this.status = "signed-out";
    this.error = null;
    restartLiveConnection();
  }

  /** After a change of the account (profile, terms accepted, email confirmed). */
  update(account: SessionAccountFragment): void {
    if (this.account && this.account.id !== account.id) return;
    this.#request++;
    this.account = account;
    if (this.status !== "signed-in") {
      this.status = "signed-in";
      restartLiveConnection();
    }
  }
}

const KEY = Symbol("session");

export function setSession(session: Session): Session {
  return setContext(KEY, session);
}

export function getSession(): Session {
  const session = getContext<Session | undefined>(KEY);
  if (!session) throw new Error("getSession() outside the studio layout");
  return session;
}
