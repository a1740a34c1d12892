import { AppError } from "../../infra/errors.js";

export class EmailNotVerifiedError extends AppError {
  constructor() {
    super("EMAIL_NOT_VERIFIED", "Confirm your email address first: follow the link we sent you.");
  }
}

/** Same answer for an unknown email and a wrong password: no account enumeration. */
export class InvalidCredentialsError extends AppError {
  constructor() {
    super("INVALID_CREDENTIALS", "Wrong email or password.");
  }
}

export class InvalidTokenError extends AppError {
  constructor() {
    super("INVALID_TOKEN", "This link is invalid, expired or already used. Ask for a new one.");
  }
}

export class TermsNotAcceptedError extends AppError {
  constructor(currentVersion: number) {
    super("TERMS_NOT_ACCEPTED", "Accept the current terms of use to continue.", { currentVersion });
  }
}

/** A restriction in force covers what was asked; the reason and end time are for the user to see. */
export class AccountRestrictedError extends AppError {
  constructor(restriction: { reason: string; endsAt: Date | null; scopes: string[] }) {
    super("ACCOUNT_RESTRICTED", `Your account is restricted: ${restriction.reason}`, {
      reason: restriction.reason,
      endsAt: restriction.endsAt ? new Date(restriction.endsAt).toISOString() : null,
      scopes: restriction.scopes,
    });
  }
}
