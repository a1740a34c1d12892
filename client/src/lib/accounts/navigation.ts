/** Studio areas that belong to an account: signed-out visitors are sent to sign in first. */
export const ACCOUNT_PATHS = ["/library", "/developer", "/billing", "/limits", "/messages", "/settings"] as const;

export function needsAccount(pathname: string): boolean {
  return ACCOUNT_PATHS.some((path) => pathname === path || pathname.startsWith(`${path}/`));
}

/**
 * A `?next=` target that stays in the studio: a path starting with one "/" (no "//host", no "/\host",
 * no scheme); anything else becomes "/".
 */
export function safeNext(raw: string | null | undefined): string {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return "/";
  try {
    const url = new URL(raw, "http://studio.invalid");
    if (url.origin !== "http://studio.invalid") return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

/** The sign-in page, coming back to `next` afterwards. */
export function signInHref(next: string): string {
  const target = safeNext(next);
  return target === "/" ? "/sign-in" : `/sign-in?next=${encodeURIComponent(target)}`;
}

/** The pages of signing in and up, where "Sign in" in the header needs no way back. */
export function isAuthPage(pathname: string): boolean {
  return ["/sign-in", "/sign-up", "/forgot-password", "/reset-password", "/verify-email"].includes(pathname);
}
