import type {
  ModerationAction,
  ModerationCategory,
  ModerationEventRowFragment,
  ModerationMatchType,
  RestrictionScope,
  ReviewTaskFragment,
} from "$lib/graphql/generated/graphql";

/** Labels of the moderation enums; plain strings, so a value the server adds later still shows (by name). */
export const CATEGORY_LABELS: Record<ModerationCategory, string> = {
  IDENTITY_DOCUMENTS: "Identity documents",
  CERTIFICATES_AND_SEALS: "Certificates and seals",
  SEXUAL_CONTENT: "Sexual content",
  MINORS: "Minors",
  VIOLENCE: "Violence",
  HATE: "Hate",
  CUSTOM: "Custom",
};

export const CATEGORIES = Object.keys(CATEGORY_LABELS) as ModerationCategory[];

export const MATCH_TYPE_LABELS: Record<ModerationMatchType, string> = {
  TERM: "Term",
  PHRASE: "Phrase",
  REGEX: "Regular expression",
};

export const MATCH_TYPE_HINTS: Record<ModerationMatchType, string> = {
  TERM: "A word or the start of one; spaces and punctuation inside it are ignored (“pass port” matches “passport”).",
  PHRASE: "Words in this order, whatever separates them.",
  REGEX: "A JavaScript regular expression, matched without regard to case.",
};

export const MATCH_TYPES = Object.keys(MATCH_TYPE_LABELS) as ModerationMatchType[];

export const ACTION_LABELS: Record<ModerationAction, string> = {
  BLOCK: "Block",
  REVIEW: "Hold for review",
};

export const ACTION_HINTS: Record<ModerationAction, string> = {
  BLOCK: "The task is refused at once and nothing is charged.",
  REVIEW: "The task is paid and waits in the moderation queue until a moderator approves or rejects it.",
};

export const ACTIONS = Object.keys(ACTION_LABELS) as ModerationAction[];

/** Badge tone of each action (classes of `.badge` in app.css). */
export const ACTION_TONES: Record<ModerationAction, "danger" | "warning"> = {
  BLOCK: "danger",
  REVIEW: "warning",
};

export function categoryLabel(category: string): string {
  return CATEGORY_LABELS[category as ModerationCategory] ?? enumWords(category);
}

export function actionLabel(action: string): string {
  return ACTION_LABELS[action as ModerationAction] ?? enumWords(action);
}

export function matchTypeLabel(type: string): string {
  return MATCH_TYPE_LABELS[type as ModerationMatchType] ?? enumWords(type);
}

export const SCOPE_LABELS: Record<RestrictionScope, string> = {
  ALL: "Everything",
  SIGN_IN: "Signing in",
  TASKS: "Creating tasks",
  API: "API keys",
  UPLOADS: "Uploads",
};

export function scopeLabel(scope: string): string {
  return SCOPE_LABELS[scope as RestrictionScope] ?? enumWords(scope);
}

/** "SOME_VALUE" → "Some value". */
function enumWords(value: string): string {
  return value.charAt(0) + value.slice(1).toLowerCase().replaceAll("_", " ");
}

/**
 * Why a pattern cannot be saved, checked in the browser before the server does it again: empty, too long, or
 * (for REGEX) not a regular expression. The server compiles with the same engine and flags.
 */
export function patternProblem(type: ModerationMatchType, pattern: string): string | null {
  const text = pattern.trim();
  if (!text) return "Write the term, phrase or expression to match.";
  if (text.length > 500) return "At most 500 characters.";
  // A term or phrase without letters or digits (leetspeak "$", "@", "!", "|" count as letters) would match
  // every prompt.
  if (type !== "REGEX" && !/[\p{L}\p{N}$@!|]/u.test(text)) return "Use at least one letter or digit.";
  if (type === "REGEX") {
    try {
      new RegExp(text, "iu");
    } catch (error) {
      return `Not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, "")}`;
    }
  }
  return null;
}

/** The shortest minimum length a moderator's reason has, on the server too. */
export const REASON_MIN = 3;
export const REASON_MAX = 500;

/** Why a reason typed for the user cannot be sent, or null. */
export function reasonProblem(reason: string): string | null {
  const text = reason.trim();
  if (text.length < REASON_MIN) return `Say why in at least ${REASON_MIN} characters; the account is shown it.`;
  if (text.length > REASON_MAX) return `At most ${REASON_MAX} characters.`;
  return null;
}

/** The first and last characters of an id, for tables ("0f8c2a4e…9b1d"); the whole id goes in a title. */
export function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

/** Canned reasons a moderator picks from (and edits): what users are most often told. */
export const REJECT_REASONS = [
  "The prompt asks for an identity document, which the terms of use do not allow.",
  "The prompt asks for an official certificate or seal, which the terms of use do not allow.",
  "The prompt asks for sexual content, which the terms of use do not allow.",
  "The prompt asks for graphic violence, which the terms of use do not allow.",
];

/**
 * The held-prompt event recorded for a task: same account, same prompt start, within a minute of it. The
 * API does not link the two, and the event is what names the rule's category.
 */
export function eventFor(
  task: ReviewTaskFragment,
  events: readonly ModerationEventRowFragment[],
): ModerationEventRowFragment | null {
  const at = Date.parse(task.createdAt);
  const start = task.prompt.slice(0, 200);
  let best: ModerationEventRowFragment | null = null;
  let bestGap = 60_000;
  for (const event of events) {
    if (event.action !== "REVIEW" || event.accountId !== task.owner.id || !event.excerpt.startsWith(start)) continue;
    const gap = Math.abs(Date.parse(event.createdAt) - at);
    if (gap <= bestGap) {
      best = event;
      bestGap = gap;
    }
  }
  return best;
}
