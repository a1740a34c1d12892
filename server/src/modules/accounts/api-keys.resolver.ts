import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import type { Context } from "../../infra/context.js";
import type { ApiKeyService } from "./api-key.service.js";
import {
  ApiKey,
  CreateApiKeyInput,
  CreateApiKeyPayload,
  IdInput,
  RevokeApiKeyPayload,
  scopeToString,
  toApiKey,
} from "./accounts.types.js";

/** The Developer Center's keys. Managing keys always needs a session, never a key. */
@Resolver()
export class ApiKeysResolver {
  constructor(private readonly apiKeyService: ApiKeyService) {}

  @Authorized("SESSION")
  @Query(() => [ApiKey], { description: "The account's API keys, newest first, revoked ones included." })
  async apiKeys(@Ctx() ctx: Context): Promise<ApiKey[]> {
    return (await this.apiKeyService.list(ctx.viewer!.accountId)).map(toApiKey);
  }

  @Authorized("SESSION")
  @Mutation(() => CreateApiKeyPayload, {
    description: "Creates an API key; its secret is in the answer, and only there.",
  })
  async createApiKey(
    @Arg("input", { description: "Name, scopes, expiry." }) input: CreateApiKeyInput,
    @Ctx() ctx: Context,
  ) {
    const { apiKey, secret } = await this.apiKeyService.create(ctx.viewer!.accountId, {
      name: input.name,
      scopes: input.scopes.map(scopeToString),
      expiresAt: input.expiresAt ?? null,
    });
    return { apiKey: toApiKey(apiKey), secret };
  }

  @Authorized("SESSION")
  @Mutation(() => RevokeApiKeyPayload, {
    description: "Revokes an API key: its next request fails and WebSocket connections using it are closed.",
  })
  async revokeApiKey(@Arg("input", { description: "The key." }) input: IdInput, @Ctx() ctx: Context) {
    return { apiKey: toApiKey(await this.apiKeyService.revoke(ctx.viewer!.accountId, input.id)) };
  }
}
