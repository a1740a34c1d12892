import type { ConnectionState } from "$lib/graphql/client";

/** What the header shows about the live connection. */
export type LiveState = "live" | "connecting" | "offline";

// Until the first heartbeat says otherwise, assume the server's default interval.
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
// Three missed beats mean the stream is not flowing.
const MISSED_BEATS = 3;

export interface LiveInput {
  connection: ConnectionState;
  /** Client clock time of the last connection to the server (null before the first). */
  connectedAt: number | null;
  /** Client clock times of the last heartbeat of any source and of a worker heartbeat. */
  lastHeartbeatAt: number | null;
  lastWorkerAt: number | null;
  /** The interval announced by the last heartbeat. */
  intervalMs: number;
  now: number;
}

function isFresh(at: number | null, { now, intervalMs }: LiveInput): boolean {
  return at !== null && now - at <= MISSED_BEATS * intervalMs;
}

export function liveState(input: LiveInput): LiveState {
  const { connection, connectedAt, lastHeartbeatAt } = input;
  if (connection === "connecting") return "connecting";
  if (connection !== "connected") return "offline";
  if (isFresh(lastHeartbeatAt, input)) return "live";
  // Just (re)connected: the first heartbeat is on its way, give it one freshness window.
  if (isFresh(connectedAt, input)) return "connecting";
  return "offline";
}

export const LIVE_LABELS: Record<LiveState, string> = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline",
};

function ago(at: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min ago` : `${Math.round(minutes / 60)} h ago`;
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** The tooltip: when the last heartbeat arrived and whether a worker is sending them. */
export function liveDetails(input: LiveInput): string {
  const { connection, lastHeartbeatAt, lastWorkerAt, now } = input;
  const link =
    connection === "connected"
      ? "Connected to the server"
      : connection === "connecting"
        ? "Connecting to the server"
        : "Connection lost, reconnecting";
  const beat =
    lastHeartbeatAt === null
      ? "no heartbeat yet"
      : `last heartbeat at ${clock(lastHeartbeatAt)} (${ago(lastHeartbeatAt, now)})`;
  const worker = isFresh(lastWorkerAt, input)
    ? "worker online"
    : lastWorkerAt === null
      ? "no worker heartbeat yet"
      : `no worker heartbeat since ${clock(lastWorkerAt)}`;
  return `${link} · ${beat} · ${worker}`;
}
