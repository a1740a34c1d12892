import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";

/**
 * Local use without a mail server: with no SMTP_URL, every mail is printed to the server's output under a
 * banner, its link included, so a person running `npm start` can still verify an account.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ PUBLIC_URL: "http://studio.test" });
});
afterAll(() => t?.close());

describe("mail without SMTP", () => {
  it("prints the verification mail with its working link under a banner", async () => {
    const printed: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const spy = vi.spyOn(process.stdout, "write").mockImplementation(((
      chunk: string | Uint8Array,
      ...rest: never[]
    ) => {
      printed.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write);
    let mail: string | undefined;
    try {
      const registered = await t.graphql(`mutation($input: RegisterInput!) { register(input: $input) { ok } }`, {
        input: { email: "local@example.com", password: "correct horse battery", acceptTermsVersion: 1 },
      });
      expect(registered.body.errors).toBeUndefined();
      // The mail goes out after the answer (the timing does not tell whether the address is known).
      await expect
        .poll(() => printed.find((p) => p.includes("To: local@example.com")), { timeout: 10_000 })
        .toBeTruthy();
      mail = printed.find((p) => p.includes("To: local@example.com"));
    } finally {
      spy.mockRestore();
    }
    expect(mail).toMatch(/={72}\nMAIL \(no SMTP_URL set, printed instead of sent\)\nTo: local@example\.com\nSubject: /);
    const link = mail!.match(/http:\/\/studio\.test\/verify-email\?token=([\w-]+)/);
    expect(link).toBeTruthy();
    const verified = await t.graphql<{ verifyEmail: { account: { emailVerified: boolean } } }>(
      `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { emailVerified } } }`,
      { input: { token: link![1] } },
    );
    expect(verified.body.data?.verifyEmail.account.emailVerified).toBe(true);
  });
});
