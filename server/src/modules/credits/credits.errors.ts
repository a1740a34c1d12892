import { AppError } from "../../infra/errors.js";

export class InsufficientBalanceError extends AppError {
  constructor(required: number, available: number) {
    super("INSUFFICIENT_BALANCE", `This needs ${required} credits; you have ${available}.`, {
      required,
      available,
      missing: required - available,
    });
  }
}

/** A credit would take the account's balance past the most an account may hold. */
export class BalanceLimitError extends AppError {
  constructor(limit: number, balance: number) {
    super(
      "BALANCE_LIMIT_REACHED",
      `An account holds at most ${limit.toLocaleString("en-US")} credits; this one holds ${balance.toLocaleString("en-US")}.`,
      { limit, balance },
    );
  }
}

/** An admin's idempotency key already made a different adjustment (another account or other amounts). */
export class AdjustmentKeyConflictError extends AppError {
  constructor(entryId: string) {
    super("IDEMPOTENCY_CONFLICT", "This idempotency key was already used for a different adjustment.", { entryId });
  }
}

/** Malformed, failing its check symbol, or unknown: one answer, so codes cannot be probed. */
export class InvalidCodeError extends AppError {
  constructor() {
    super("INVALID_CODE", "This code is not valid. Check it for typos.");
  }
}

export class CodeExpiredError extends AppError {
  constructor() {
    super("CODE_EXPIRED", "This code has expired.");
  }
}

export class CodeDisabledError extends AppError {
  constructor() {
    super("CODE_DISABLED", "This code has been disabled.");
  }
}

export class CodeExhaustedError extends AppError {
  constructor() {
    super("CODE_EXHAUSTED", "This code has already been used.");
  }
}

export class CodeLimitReachedError extends AppError {
  constructor(limit: number) {
    super("CODE_LIMIT_REACHED", "You have already redeemed as many codes of this kind as allowed.", { limit });
  }
}
