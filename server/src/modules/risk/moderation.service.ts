import { parseInput } from "../../infra/validation.js";
import type { DataSource, EntityManager } from "typeorm";
import { z } from "zod";
import { AppError, BadUserInputError, NotFoundError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import {
  MatchType,
  ModerationAction,
  ModerationCategory,
  ModerationEventEntity,
  ModerationRuleEntity,
} from "./moderation.entities.js";
import type { ContentClassifier } from "./moderation-provider.js";
import { normalize, unspace, type Unspaced } from "./text-normalizer.js";

export class ContentRejectedError extends AppError {
  constructor(category: ModerationCategory) {
    super("CONTENT_REJECTED", "This prompt is not allowed by the terms of use.", { category });
  }
}

export interface Decision {
  action: ModerationAction;
  category: ModerationCategory;
  /** The rule that matched; null when the external classifier decided. */
  ruleId: string | null;
}

export interface ModerationOptions {
  /** An external classifier consulted when no rule matched (OPENAI-compatible moderation endpoint). */
  classifier?: ContentClassifier;
  /** What a flagged prompt gets. */
  classifierAction: ModerationAction;
  /** Whether reference images are sent to the classifier too. */
  classifyImages: boolean;
  /** `blocks` BLOCK decisions within `windowHours` restrict TASKS for `restrictHours` (0 blocks: never). */
  escalation: { blocks: number; windowHours: number; restrictHours: number };
  /** Restricts TASKS automatically (the restriction service, wired in app.ts). */
  restrictTasks?: (accountId: string, minutes: number, reason: string) => Promise<void>;
}

const SEPARATORS = "[^\\p{L}\\p{N}]*";
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A term as a pattern that tolerates separators between its letters ("p.a s s-port"). */
function termPattern(term: string): string {
  return [...normalize(term).replace(/[^\p{L}\p{N}]/gu, "")].map(escape).join(SEPARATORS);
}

/** Compiles a rule to a regular expression over normalised text. */
export function compileRule(rule: Pick<ModerationRuleEntity, "matchType" | "pattern">): RegExp {
  const start = "(?<![\\p{L}\\p{N}])";
  switch (rule.matchType) {
    case MatchType.TERM:
      return new RegExp(start + termPattern(rule.pattern), "u");
    case MatchType.PHRASE:
      return new RegExp(start + normalize(rule.pattern).split(" ").map(termPattern).join(SEPARATORS), "u");
    case MatchType.REGEX:
      return new RegExp(rule.pattern, "iu");
  }
}

/**
 * A REGEX rule's pattern without its word boundaries (`\b`), for words spelled out letter by letter and run
 * together ("n a k e d c h i l d" joins to "nakedchild", where no boundary is left between the words). Only
 * matches that touch such a spelled-out run count (see spelledOutMatch), so normal words are never read
 * without their boundaries. Null when the pattern has no boundary to drop.
 */
export function looseRule(pattern: string): RegExp | null {
  let out = "";
  let inClass = false;
  let dropped = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") {
      if (!inClass && pattern[i + 1] === "b") dropped = true;
      else out += ch + (pattern[i + 1] ?? "");
      i++;
      continue;
    }
    if (ch === "[") inClass = true;
    else if (ch === "]") inClass = false;
    out += ch;
  }
  if (!dropped) return null;
  try {
    return new RegExp(out, "giu");
  } catch {
    return null;
  }
}

/** Whether `loose` matches the unspaced text somewhere that overlaps a spelled-out run. */
function spelledOutMatch(loose: RegExp, form: Unspaced): boolean {
  if (!form.runs.length) return false;
  for (const match of form.text.matchAll(loose)) {
    const start = match.index;
    const end = start + match[0].length;
    if (end > start && form.runs.some(([a, b]) => start < b && a < end)) return true;
  }
  return false;
}

const ruleSchema = z.object({
  category: z.enum(ModerationCategory),
  matchType: z.enum(MatchType),
  pattern: z.string().trim().min(1).max(500),
  action: z.enum(ModerationAction),
  enabled: z.boolean(),
});

/**
 * The decision point every prompt passes before it is charged: rules from the database (cached for a few
 * seconds per process), BLOCK before REVIEW. Blocked attempts are recorded outside the caller's transaction
 * so that they stay when the task is refused.
 */
export class ModerationService {
  private cache: {
    at: number;
    rules: { rule: ModerationRuleEntity; regex: RegExp; loose: RegExp | null }[];
  } | null = null;

  constructor(
    private readonly db: DataSource,
    private readonly logger: Logger,
    private readonly options: ModerationOptions = {
      classifierAction: ModerationAction.BLOCK,
      classifyImages: false,
      escalation: { blocks: 0, windowHours: 24, restrictHours: 24 },
    },
  ) {}

  /** `runner`: the caller's transaction, if any, so a cache miss does not need a second pool connection. */
  private async rules(runner: DataSource | EntityManager = this.db) {
    if (this.cache && Date.now() - this.cache.at < 5000) return this.cache.rules;
    const rows = await runner.getRepository(ModerationRuleEntity).find({ where: { enabled: true } });
    const rules = rows.flatMap((rule) => {
      try {
        const loose = rule.matchType === MatchType.REGEX ? looseRule(rule.pattern) : null;
        return [{ rule, regex: compileRule(rule), loose }];
      } catch {
        this.logger.warn({ ruleId: rule.id }, "a moderation rule does not compile; skipped");
        return [];
      }
    });
    // BLOCK rules decide first.
    rules.sort((a, b) => (a.rule.action === b.rule.action ? 0 : a.rule.action === ModerationAction.BLOCK ? -1 : 1));
    this.cache = { at: Date.now(), rules };
    return rules;
  }

  /**
   * Terms and phrases tolerate separators by construction; a regular expression is also tried on the text
   * with separators undone (unspace: punctuation inside words dropped, spelled-out words joined, leetspeak
   * folded by normalize), and without its word boundaries where a spelled-out run is involved.
   */
  async decide(text: string, runner?: DataSource | EntityManager): Promise<Decision | null> {
    const forms = [normalize(text), text.normalize("NFKC").toLowerCase()];
    const unspaced = forms.map(unspace);
    for (const { rule, regex, loose } of await this.rules(runner)) {
      const hit =
        forms.some((f) => regex.test(f)) ||
        (rule.matchType === MatchType.REGEX &&
          unspaced.some((u) => regex.test(u.text) || (loose !== null && spelledOutMatch(loose, u))));
      if (hit) return { action: rule.action, category: rule.category, ruleId: rule.id };
    }
    return null;
  }

  /** BLOCK throws CONTENT_REJECTED (recorded); REVIEW is answered for the caller to hold the task. */
  async checkPrompt(input: {
    accountId: string;
    taskId?: string;
    prompt: string;
    negativePrompt: string | null;
    /** The caller's transaction: the rules are read on its connection when the cache is cold. */
    manager?: EntityManager;
  }): Promise<Decision | null> {
    const text = input.negativePrompt ? `${input.prompt}\n${input.negativePrompt}` : input.prompt;
    const decision = (await this.decide(input.prompt, input.manager)) ?? (await this.classifyPrompt(input.prompt));
    if (!decision) return null;
    // A held task is created right after this answer: its event points at it; a blocked one has no task.
    const taskId = decision.action === ModerationAction.REVIEW ? (input.taskId ?? null) : null;
    await this.record(input.accountId, taskId, decision, text);
    if (decision.action === ModerationAction.BLOCK) {
      await this.escalate(input.accountId);
      throw new ContentRejectedError(decision.category);
    }
    return decision;
  }

  /** The external classifier's decision; when it cannot answer, the task waits for a moderator instead. */
  private async classifyPrompt(prompt: string): Promise<Decision | null> {
    const classifier = this.options.classifier;
    if (!classifier) return null;
    try {
      const result = await classifier.classify({ text: prompt });
      return result.flagged ? { action: this.options.classifierAction, category: result.category, ruleId: null } : null;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "moderation classifier unavailable: the prompt goes to review");
      return { action: ModerationAction.REVIEW, category: ModerationCategory.CUSTOM, ruleId: null };
    }
  }

  /**
   * The decision point for reference images: rules cannot see pixels, so without a classifier every image
   * is allowed. A flagged image is refused with CONTENT_REJECTED (and counts towards escalation); an
   * unavailable classifier lets it through (logged): a reference image alone produces nothing.
   */
  async checkImage(accountId: string, image: Buffer, mime: string): Promise<void> {
    const classifier = this.options.classifier;
    if (!classifier || !this.options.classifyImages) return;
    let result;
    try {
      result = await classifier.classify({ image, mime });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, accountId }, "image classifier unavailable: upload allowed");
      return;
    }
    if (!result.flagged) return;
    const decision = { action: ModerationAction.BLOCK, category: result.category, ruleId: null };
    await this.record(accountId, null, decision, `[reference image] ${result.labels.join(", ")}`);
    await this.escalate(accountId);
    throw new ContentRejectedError(result.category);
  }

  /** Repeated blocks within the window restrict the account's TASKS scope for a while, with the reason recorded. */
  private async escalate(accountId: string): Promise<void> {
    const { blocks, windowHours, restrictHours } = this.options.escalation;
    if (blocks <= 0 || !this.options.restrictTasks) return;
    const [row] = (await this.db.query(
      `SELECT count(*)::int AS n FROM moderation_event
        WHERE account_id = $1 AND action = 'BLOCK' AND created_at > now() - make_interval(hours => $2)`,
      [accountId, windowHours],
    )) as { n: number }[];
    if (row.n < blocks) return;
    await this.options.restrictTasks(
      accountId,
      restrictHours * 60,
      `${row.n} prompts were blocked by the content rules within ${windowHours} h.`,
    );
  }

  async record(accountId: string, taskId: string | null, decision: Decision, prompt: string): Promise<void> {
    await this.db.getRepository(ModerationEventEntity).insert({
      accountId,
      taskId,
      action: decision.action,
      category: decision.category,
      ruleId: decision.ruleId,
      excerpt: prompt.slice(0, 500),
    });
  }

  listRules(): Promise<ModerationRuleEntity[]> {
    return this.db.getRepository(ModerationRuleEntity).find({ order: { category: "ASC", createdAt: "ASC" } });
  }

  async saveRule(id: string | null, input: z.input<typeof ruleSchema>): Promise<ModerationRuleEntity> {
    const valid = parseInput(ruleSchema, input);
    // A term or phrase without any letter or digit would compile to an empty pattern that matches everything.
    if (valid.matchType !== MatchType.REGEX && !/[\p{L}\p{N}]/u.test(normalize(valid.pattern))) {
      throw new BadUserInputError("A term or phrase needs at least one letter or digit.", { field: "pattern" });
    }
    let regex: RegExp;
    try {
      regex = compileRule(valid);
    } catch {
      throw new BadUserInputError("The regular expression does not compile.", { field: "pattern" });
    }
    if (regex.test("")) {
      throw new BadUserInputError("This pattern matches an empty prompt, so it would match every prompt.", {
        field: "pattern",
      });
    }
    const repo = this.db.getRepository(ModerationRuleEntity);
    let rule: ModerationRuleEntity;
    if (id) {
      const existing = await repo.findOneBy({ id });
      if (!existing) throw new NotFoundError("Moderation rule");
      rule = await repo.save(Object.assign(existing, valid));
    } else {
      rule = await repo.save(repo.create(valid));
    }
    this.cache = null;
    return rule;
  }

  async deleteRule(id: string): Promise<ModerationRuleEntity> {
    const repo = this.db.getRepository(ModerationRuleEntity);
    const rule = await repo.findOneBy({ id });
    if (!rule) throw new NotFoundError("Moderation rule");
    await repo.delete({ id });
    this.cache = null;
    return rule;
  }

  recentEvents(limit = 100): Promise<ModerationEventEntity[]> {
    return this.db.getRepository(ModerationEventEntity).find({ order: { createdAt: "DESC" }, take: limit });
  }
}
