import { ForbiddenError, UnauthenticatedError } from "../../infra/errors.js";
import { AccountRole } from "./account.entity.js";
import { AccountRestrictedError } from "./accounts.errors.js";
import { API_SCOPES, restrictionFor, type Viewer } from "./viewer.js";

/**
 * The one authorization rule of the schema, used by type-graphql's `@Authorized(...)` and by subscription
 * streams. Requirements:
 * - none: any signed-in caller;
 * - a scope (`tasks:write`): API keys need it, sessions hold every scope;
 * - `SESSION`: only a signed-in session (API keys never manage keys, credentials or admin work);
 * - `MODERATOR` / `ADMIN`: a session of an account with that role (ADMIN includes MODERATOR).
 */
export function authorize(viewer: Viewer | null, requirements: readonly string[]): Viewer {
  if (!viewer) throw new UnauthenticatedError();
  // A restricted account may still read itself and appeal (operations marked RESTRICTED_OK).
  // API keys of an account restricted for API (or ALL) do nothing at all.
  const api = viewer.via === "API_KEY" ? restrictionFor(viewer, "API") : undefined;
  if (api) throw new AccountRestrictedError(api);
  if (!requirements.includes("RESTRICTED_OK")) {
    const all = restrictionFor(viewer, "ALL");
    if (all && all.scopes.includes("ALL")) throw new AccountRestrictedError(all);
  }
  for (const requirement of requirements) {
    if (requirement === "RESTRICTED_OK") continue;
    if (requirement === "SESSION" || requirement === "ADMIN" || requirement === "MODERATOR") {
      if (viewer.via !== "SESSION") {
        throw new ForbiddenError("API keys cannot do this: sign in with a session.", { requires: "SESSION" });
      }
      if (requirement === "ADMIN" && viewer.role !== AccountRole.ADMIN) {
        throw new ForbiddenError("Only administrators can do this.", { requires: "ADMIN" });
      }
      if (requirement === "MODERATOR" && viewer.role === AccountRole.USER) {
        throw new ForbiddenError("Only moderators can do this.", { requires: "MODERATOR" });
      }
    } else if ((API_SCOPES as readonly string[]).includes(requirement)) {
      if (!viewer.scopes.includes(requirement)) {
        throw new ForbiddenError(`This API key lacks the \`${requirement}\` scope.`, { requiredScope: requirement });
      }
    } else {
      throw new Error(`Unknown authorization requirement ${requirement}`);
    }
  }
  return viewer;
}
