import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

function capture() {
  const lines: string[] = [];
  const logger = createLogger("info", {}, { write: (line: string) => void lines.push(line) });
  return { logger, text: () => lines.join("") };
}

describe("logger redaction", () => {
  it("never writes authorization headers, cookies, passwords or tokens", () => {
    const { logger, text } = capture();
    logger.info(
      {
        req: { headers: { authorization: "Bearer nvk_secret_1", cookie: "novart_session=secret_2", host: "x" } },
        res: { headers: { "set-cookie": "novart_session=secret_3" } },
        input: { password: "secret_4", newPassword: "secret_5", token: "secret_6" },
        variables: { password: "secret_7", input: { token: "secret_8" } },
      },
      "request",
    );
    const out = text();
    for (let i = 1; i <= 8; i++) expect(out).not.toContain(`secret_${i}`);
    expect(out).toContain('"host":"x"');
    expect(out).toContain("[redacted]");
  });
});
