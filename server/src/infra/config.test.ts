import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";

describe("loadConfig", () => {
  it("gives working defaults for a local install", () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(4000);
    expect(config.ROLE).toBe("all");
    expect(config.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(config.REDIS_URL).toBe("redis://127.0.0.1:6379");
    expect(config.MIGRATE_ON_START).toBe(true);
  });

  it("treats empty strings as unset", () => {
    expect(loadConfig({ PORT: "" }).PORT).toBe(4000);
  });

  it("names every bad variable", () => {
    try {
      loadConfig({ PORT: "eighty", ROLE: "boss", DATABASE_URL: "mysql://x", MIGRATE_ON_START: "maybe" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const names = (err as ConfigError).problems.map((p) => p.split(":")[0]);
      expect(names.sort()).toEqual(["DATABASE_URL", "MIGRATE_ON_START", "PORT", "ROLE"]);
    }
  });

  it("coerces numbers and booleans", () => {
    const config = loadConfig({ PORT: "8080", MIGRATE_ON_START: "false", ROLE: "worker" });
    expect(config).toMatchObject({ PORT: 8080, MIGRATE_ON_START: false, ROLE: "worker" });
  });
});
