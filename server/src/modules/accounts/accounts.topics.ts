/** Per-account topic of new internal messages: `MESSAGE_RECEIVED:<accountId>`. */
export const messageTopic = (accountId: string) => `MESSAGE_RECEIVED:${accountId}`;

/** Sessions or API keys that just stopped being valid; every API process closes sockets using them. */
export const CREDENTIALS_REVOKED = "CREDENTIALS_REVOKED";

export interface CredentialsRevokedEvent {
  accountId: string;
  /** Session ids, or "ALL" for every session of the account. */
  sessionIds: string[] | "ALL";
  apiKeyIds: string[] | "ALL";
  /** A restriction, not a revocation, ends them: sockets close with 4403 "Account restricted" (else 4401). */
  restricted?: boolean;
}

export interface MessagePayload {
  id: string;
  kind: string;
  title: string;
  body: string;
  link: string | null;
  readAt: string | null;
  createdAt: string;
}
