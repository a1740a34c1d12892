import type {
  WebhookDeliveryRowFragment,
  WebhookDeliveryStatus,
  WebhookEndpointRowFragment,
} from "$lib/graphql/generated/graphql";

/** The events an endpoint can subscribe to, in the order a task goes through them. */
export const WEBHOOK_EVENTS = [
  { value: "task.running", description: "A worker started the task." },
  { value: "task.succeeded", description: "The images are ready; links are in the payload." },
  { value: "task.failed", description: "The task failed and was refunded; the reason is in error." },
  { value: "task.canceled", description: "The task was canceled and refunded." },
] as const;

export const ALL_EVENTS: string[] = WEBHOOK_EVENTS.map((e) => e.value);

/** What the endpoint form edits. */
export interface EndpointValues {
  url: string;
  events: string[];
  description: string;
}

export type EndpointStatus = "active" | "failing" | "disabled";

/** Active, failing (deliveries keep failing, still sent), or disabled (by you, or by the system). */
export function endpointStatus(endpoint: Pick<WebhookEndpointRowFragment, "enabled" | "failingSince">): EndpointStatus {
  if (!endpoint.enabled) return "disabled";
  return endpoint.failingSince ? "failing" : "active";
}

export const ENDPOINT_STATUS_LABELS: Record<EndpointStatus, string> = {
  active: "Active",
  failing: "Failing",
  disabled: "Disabled",
};

export const ENDPOINT_STATUS_TONES: Record<EndpointStatus, "success" | "warning" | "danger"> = {
  active: "success",
  failing: "warning",
  disabled: "danger",
};

export const DELIVERY_STATUSES: readonly WebhookDeliveryStatus[] = ["PENDING", "SUCCEEDED", "FAILED"];

export const DELIVERY_STATUS_LABELS: Record<WebhookDeliveryStatus, string> = {
  PENDING: "Pending",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
};

export const DELIVERY_STATUS_TONES: Record<WebhookDeliveryStatus, "accent" | "success" | "danger"> = {
  PENDING: "accent",
  SUCCEEDED: "success",
  FAILED: "danger",
};

export function parseDeliveryStatus(value: string | null | undefined): WebhookDeliveryStatus | null {
  return DELIVERY_STATUSES.find((s) => s === value?.toUpperCase()) ?? null;
}

/** "HTTP 200 in 12 ms", "HTTP 500 in 30 ms", "timeout after 10000 ms". */
export function attemptSummary(attempt: {
  statusCode?: number | null;
  latencyMs: number;
  error?: string | null;
}): string {
  const latency = `${attempt.latencyMs.toLocaleString()} ms`;
  if (attempt.statusCode != null) return `HTTP ${attempt.statusCode} in ${latency}`;
  return `${attempt.error ?? "No answer"} after ${latency}`;
}

/** The payload JSON indented for reading; the raw text when it is not JSON. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Puts `fresh` over `known`: changed deliveries are replaced in place, new ones go on top (newest first). */
export function mergeDeliveries(
  known: readonly WebhookDeliveryRowFragment[],
  fresh: readonly WebhookDeliveryRowFragment[],
): WebhookDeliveryRowFragment[] {
  const byId = new Map(fresh.map((d) => [d.id, d]));
  const updated = known.map((d) => byId.get(d.id) ?? d);
  const ids = new Set(known.map((d) => d.id));
  const added = fresh.filter((d) => !ids.has(d.id));
  return [...added, ...updated].sort(
    (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0),
  );
}
