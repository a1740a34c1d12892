import { Audited } from "./audit.js";
import { Arg, Authorized, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import { BadUserInputError } from "../../infra/errors.js";
import { IdInput } from "../accounts/accounts.types.js";
import { toTask } from "../generation/generation.types.js";
import type { TaskService } from "../generation/task.service.js";
import type { ModerationService } from "./moderation.service.js";
import {
  ModerationDecision,
  ModerationQueue,
  ModerationRule,
  ModerationRuleInput,
  ModerationRulePayload,
  ModerationTaskPayload,
  RejectTaskInput,
  toEvent,
  toRule,
} from "./moderation.types.js";

/** Moderation: rules (admins), the queue and decisions (moderators). */
@Resolver()
export class ModerationResolver {
  constructor(
    private readonly moderation: ModerationService,
    private readonly tasks: TaskService,
  ) {}

  @Authorized("MODERATOR")
  @Query(() => [ModerationRule], { description: "Every moderation rule." })
  async moderationRules(): Promise<ModerationRule[]> {
    return (await this.moderation.listRules()).map(toRule);
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => ModerationRulePayload, { description: "Creates a rule, or changes one when `id` is given." })
  async saveModerationRule(@Arg("input", { description: "The rule." }) input: ModerationRuleInput) {
    const { id, ...rule } = input;
    return { rule: toRule(await this.moderation.saveRule(id ?? null, rule)) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => ModerationRulePayload, { description: "Deletes a rule." })
  async deleteModerationRule(@Arg("input", { description: "The rule." }) input: IdInput) {
    return { rule: toRule(await this.moderation.deleteRule(input.id)) };
  }

  @Authorized("MODERATOR")
  @Query(() => ModerationDecision, { description: "What the rules would decide for a prompt (nothing is recorded)." })
  async testModerationPrompt(@Arg("text", { description: "A prompt." }) text: string): Promise<ModerationDecision> {
    if (text.length > 4000) throw new BadUserInputError("At most 4 000 characters.", { field: "text" });
    const decision = await this.moderation.decide(text);
    return { action: decision?.action ?? null, category: decision?.category ?? null, ruleId: decision?.ruleId ?? null };
  }

  @Authorized("MODERATOR")
  @Query(() => ModerationQueue, { description: "Tasks held for review and recent blocked prompts." })
  async moderationQueue(): Promise<ModerationQueue> {
    const [tasks, events] = await Promise.all([this.tasks.pendingReview(), this.moderation.recentEvents()]);
    return { tasksInReview: tasks.map(toTask), recentEvents: events.map(toEvent) };
  }

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => ModerationTaskPayload, { description: "Lets a held task run." })
  async approveTask(@Arg("input", { description: "The task." }) input: IdInput) {
    return { task: toTask(await this.tasks.approve(input.id)) };
  }

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => ModerationTaskPayload, {
    description: "Refuses a held task: it fails, is refunded, and the owner is told why.",
  })
  async rejectTask(@Arg("input", { description: "Task and reason." }) input: RejectTaskInput) {
    const reason = input.reason.trim();
    if (reason.length < 3) throw new BadUserInputError("Give a reason.", { field: "reason" });
    return { task: toTask(await this.tasks.reject(input.id, reason)) };
  }
}
