import type { z } from "zod";
import { BadUserInputError } from "./errors.js";

/** Validates input with a zod schema; the first problem becomes BAD_USER_INPUT naming its field. */
export function parseInput<T>(schema: z.ZodType<T, unknown>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadUserInputError(issue.message, { field: String(issue.path[0] ?? "") });
  }
  return parsed.data;
}
