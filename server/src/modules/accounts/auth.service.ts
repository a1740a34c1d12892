import { UnauthenticatedError } from "../../infra/errors.js";
import { ApiKeyService } from "./api-key.service.js";
import { credentialFrom, SessionService } from "./session.service.js";
import type { Viewer, ViewerRestriction } from "./viewer.js";

/**
 * Turns a request's credential into a viewer, identically for HTTP and graphql-ws. A bad Bearer token is
 * refused (the client must learn its key is wrong); a stale session cookie just means "signed out".
 */
export class AuthService {
  constructor(
    private readonly sessions: SessionService,
    private readonly apiKeys: ApiKeyService,
    /** Restrictions in force of an account (the risk module answers; wired in app.ts). */
    private readonly restrictionsOf: (accountId: string) => Promise<ViewerRestriction[]> = async () => [],
  ) {}

  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<Viewer | null> {
    const credential = credentialFrom(headers);
    if (!credential) return null;
    const { token, source } = credential;
    const viewer = ApiKeyService.isApiKey(token)
      ? await this.apiKeys.authenticate(token)
      : SessionService.isSessionToken(token)
        ? await this.sessions.authenticate(token)
        : null;
    if (!viewer && source === "bearer") {
      throw new UnauthenticatedError("The token is invalid, expired or revoked.");
    }
    // Sessions read their restrictions in the same statement; API keys ask the risk module.
    if (viewer && !viewer.restrictions) viewer.restrictions = await this.restrictionsOf(viewer.accountId);
    return viewer;
  }
}
