import { codeMessage } from "$lib/graphql/errors";

/** The most images one ZIP may hold (the server's limit). */
export const ZIP_LIMIT = 500;

/**
 * Downloads the originals of some images as one ZIP, straight to disk: `POST /api/assets/zip/link` (a JSON
 * request the session cookie authenticates) mints a short-lived link, then the browser downloads it as a file
 * through a temporary `<a download>`, so the archive is never held in the page's memory. Resolves with an
 * error message in plain words, or null when the download started.
 */
export async function downloadZip(ids: string[]): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch("/api/assets/zip/link", {
      method: "POST",
      headers: { "content-type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ ids }),
    });
  } catch {
    return "Cannot reach the server. Check your connection and try again.";
  }
  let body: { url?: unknown; error?: { code?: unknown } } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // Not JSON (a proxy's page): the generic words below.
  }
  if (!response.ok || typeof body.url !== "string") {
    const code = typeof body.error?.code === "string" ? body.error.code : "INTERNAL_SERVER_ERROR";
    if (code === "NOT_FOUND") return "Some of these images are gone. Reload the library and try again.";
    return codeMessage(code);
  }
  startDownload(body.url);
  return null;
}

/**
 * Lets the browser download a link as a file (under the name the server gives) through a temporary
 * `<a download>`: the bytes go to disk as they arrive.
 */
export function startDownload(url: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.setAttribute("download", "");
  link.rel = "noopener";
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
}
