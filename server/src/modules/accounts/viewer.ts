import { AccountRole } from "./account.entity.js";

/** API key scopes; a session holds every scope of its account. */
export const API_SCOPES = ["tasks:read", "tasks:write", "assets:read", "account:read"] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** Who is calling, and through which credential. Built once per request (or per WebSocket connection). */
export interface Viewer {
  accountId: string;
  role: AccountRole;
  via: "SESSION" | "API_KEY";
  sessionId: string | null;
  apiKeyId: string | null;
  /** Scopes of the API key; every scope for a session. */
  scopes: readonly string[];
  /** Restrictions in force (scopes ALL, SIGN_IN, TASKS, API, UPLOADS), read when the viewer is made. */
  restrictions?: ViewerRestriction[];
}

/**
 * The role a viewer acts with on others' data: its account's role over a session, USER over an API key (keys
 * never do staff work, whatever their account's role; see authorization.ts).
 */
export function actingRole(viewer: Viewer): AccountRole {
  return viewer.via === "SESSION" ? viewer.role : AccountRole.USER;
}

export interface ViewerRestriction {
  scopes: string[];
  reason: string;
  endsAt: Date | null;
}

/** The restrictions column of the authentication statements (a JSON aggregate, null for none). */
export type RestrictionsJson = { scopes: string[]; reason: string; endsAt: string | null }[] | null;

export function viewerRestrictions(json: RestrictionsJson): ViewerRestriction[] {
  return (json ?? []).map((r) => ({
    scopes: r.scopes,
    reason: r.reason,
    endsAt: r.endsAt === null ? null : new Date(r.endsAt),
  }));
}

/** The restriction in force that covers `scope`, if any (ALL covers every scope). */
export function restrictionFor(viewer: Viewer, scope: string): ViewerRestriction | undefined {
  return viewer.restrictions?.find((r) => r.scopes.includes("ALL") || r.scopes.includes(scope));
}
