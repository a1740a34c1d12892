import { isIP, isIPv4 } from "node:net";

/** Longest textual IP address we accept (`ffff:…:255.255.255.255`); `signup_ip` is varchar(45). */
const MAX_IP_LENGTH = 45;

/** `addr` when it is a plain IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4), else null. */
export function parseIp(raw: string | undefined): string | null {
  const addr = (raw ?? "").trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  // A zone id (`fe80::1%eth0`) passes isIP with any length; no public client has one.
  if (!addr || addr.length > MAX_IP_LENGTH || addr.includes("%") || !isIP(addr)) return null;
  return addr.toLowerCase();
}

/**
 * The client's address. Behind a trusted proxy it is the RIGHTMOST `X-Forwarded-For` entry: proxies append
 * the address they saw (nginx's `$proxy_add_x_forwarded_for`), while every entry left of it was written by
 * the client and proves nothing. An entry that is not an IP address falls back to the socket's address.
 */
export function clientAddress(
  forwardedFor: string | string[] | undefined,
  socketAddress: string | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy && forwardedFor !== undefined) {
    // Repeated headers arrive as one comma-joined string in node; join an array all the same.
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    const forwarded = parseIp(entries[entries.length - 1]);
    if (forwarded) return forwarded;
  }
  return parseIp(socketAddress) ?? "";
}

/**
 * The key of an address in per-IP rate limits: IPv4 as is, IPv6 by its /64 (one subscriber usually holds a
 * whole /64, so counting single IPv6 addresses would let one client rotate through 2^64 budgets).
 */
export function ipLimitKey(ip: string): string {
  const addr = parseIp(ip);
  if (!addr || isIPv4(addr)) return addr ?? ip;
  const [head, tail] = addr.includes("::") ? addr.split("::") : [addr, null];
  const groups = head ? head.split(":") : [];
  if (tail !== null) {
    // An embedded IPv4 tail counts as two groups; only the first four groups matter here.
    const tailGroups = tail ? tail.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])) : [];
    groups.push(...Array<string>(8 - groups.length - tailGroups.length).fill("0"), ...tailGroups);
  }
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}
