import { describe, expect, it } from "vitest";
import { clientAddress, ipLimitKey, parseIp } from "./client-ip.js";

describe("clientAddress", () => {
  it("takes the rightmost X-Forwarded-For entry (the one the trusted proxy appended)", () => {
    expect(clientAddress("10.9.9.9, 203.0.113.7", "127.0.0.1", true)).toBe("203.0.113.7");
    expect(clientAddress("203.0.113.7", "127.0.0.1", true)).toBe("203.0.113.7");
    expect(clientAddress(["1.1.1.1", "203.0.113.7"], "127.0.0.1", true)).toBe("203.0.113.7");
  });

  it("ignores X-Forwarded-For without a trusted proxy", () => {
    expect(clientAddress("203.0.113.7", "::ffff:192.0.2.1", false)).toBe("192.0.2.1");
  });

  it("falls back to the socket address when the entry is not an IP address", () => {
    expect(clientAddress("a".repeat(200), "127.0.0.1", true)).toBe("127.0.0.1");
    expect(clientAddress(`203.0.113.7, ${"x".repeat(200)}`, "127.0.0.1", true)).toBe("127.0.0.1");
    expect(clientAddress(`fe80::1%${"a".repeat(200)}`, "127.0.0.1", true)).toBe("127.0.0.1");
    expect(clientAddress("", "127.0.0.1", true)).toBe("127.0.0.1");
  });

  it("never answers more than 45 characters", () => {
    expect(parseIp("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")).toHaveLength(45);
    expect(parseIp(`0${"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"}`)).toBeNull();
  });
});

describe("ipLimitKey", () => {
  it("keeps IPv4 addresses and keys IPv6 ones by their /64", () => {
    expect(ipLimitKey("203.0.113.7")).toBe("203.0.113.7");
    expect(ipLimitKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(ipLimitKey("2001:0DB8:0001:0002:ffff:1:2:3")).toBe("2001:db8:1:2::/64");
    expect(ipLimitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(ipLimitKey("::1")).toBe("0:0:0:0::/64");
    expect(ipLimitKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
  });
});
