import type { Client } from "@urql/core";
import { getContext, setContext } from "svelte";
import { MyBalanceDocument, type BalancePartsFragment } from "$lib/graphql/generated/graphql";

/**
 * The signed-in account's balance, for the header and the Billing page. It is asked from the server
 * (never computed in the browser): at sign-in, when a credits message arrives, after a reconnect, and
 * whenever a page calls `refresh()` after spending. A mutation answering the new balance may `set` it.
 */
export class CreditBalance {
  current = $state<BalancePartsFragment | null>(null);
  /** Whether the last refresh failed (the last known balance stays shown). */
  failed = $state(false);

  readonly #client: Client;
  // Answers to older requests lose against newer requests and direct updates.
  #request = 0;

  constructor(client: Client) {
    this.#client = client;
  }

  async refresh(): Promise<void> {
    const request = ++this.#request;
    const result = await this.#client.query(MyBalanceDocument, {}, { requestPolicy: "network-only" }).toPromise();
    if (request !== this.#request) return;
    if (result.data) {
      this.current = result.data.me.balance;
      this.failed = false;
    } else {
      this.failed = true;
    }
  }

  /** The balance a mutation answered (a redemption): newer than any request still running. */
  set(balance: BalancePartsFragment): void {
    this.#request++;
    this.current = { __typename: "Balance", paid: balance.paid, bonus: balance.bonus, total: balance.total };
    this.failed = false;
  }

  /** Signed out, or another account signed in. */
  clear(): void {
    this.#request++;
    this.current = null;
    this.failed = false;
  }
}

const KEY = Symbol("credit-balance");

export function setCreditBalance(balance: CreditBalance): CreditBalance {
  return setContext(KEY, balance);
}

export function getCreditBalance(): CreditBalance {
  const balance = getContext<CreditBalance | undefined>(KEY);
  if (!balance) throw new Error("getCreditBalance() outside the studio layout");
  return balance;
}
