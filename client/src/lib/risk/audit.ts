/**
 * The operations the audit log records (every admin and moderator mutation), in words. An operation added on
 * the server later still shows and filters, by its name.
 */
export const AUDIT_ACTIONS: Record<string, string> = {
  approveTask: "Approved a task",
  rejectTask: "Rejected a task",
  saveModerationRule: "Saved a moderation rule",
  deleteModerationRule: "Deleted a moderation rule",
  restrictAccount: "Restricted an account",
  liftRestriction: "Lifted a restriction",
  decideAppeal: "Answered an appeal",
  revokeAccountApiKeys: "Revoked an account's API keys",
  setAccountLimits: "Changed an account's limits",
  removeAsset: "Removed an image",
  createCodeBatch: "Created a code batch",
  disableCodeBatch: "Disabled a code batch",
  disableCode: "Disabled a code",
  adjustBalance: "Adjusted a balance",
  updateModel: "Changed a model",
  publishTermsOfUse: "Published terms of use",
  saveTier: "Saved a tier",
  deleteTier: "Deleted a tier",
  decideLimitRequest: "Answered a limit request",
  sendAnnouncement: "Sent an announcement",
  updateRegistrationPolicy: "Changed the registration policy",
  createInviteCodes: "Created invite codes",
};

export function auditActionLabel(action: string): string {
  const words = action.replace(/([a-z0-9])([A-Z])/g, (_, a: string, b: string) => `${a} ${b.toLowerCase()}`);
  return AUDIT_ACTIONS[action] ?? words.charAt(0).toUpperCase() + words.slice(1);
}

/** Actions whose target is an account (the input's `accountId`). */
const ACCOUNT_TARGETS = ["restrictAccount", "adjustBalance", "revokeAccountApiKeys", "setAccountLimits"];

/** What kind of thing an action's target id is, for a link to it where the studio has a page. */
export function targetHref(action: string, target: string | null): string | null {
  if (!target) return null;
  if (ACCOUNT_TARGETS.includes(action)) return `/admin/restrictions?account=${encodeURIComponent(target)}`;
  return null;
}

/** An action name as typed in the filter: a GraphQL field name, or nothing. */
export function parseAuditAction(value: string | null): string | null {
  const text = value?.trim() ?? "";
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(text) ? text : null;
}

/** A JSON value laid out for reading (the audit entry's input and result). */
export function formatJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  return JSON.stringify(value, null, 2);
}
