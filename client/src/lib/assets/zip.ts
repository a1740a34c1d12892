import { codeMessage } from "$lib/graphql/errors";
import { zipFileName } from "./library";

/** The most images one ZIP may hold (the server's limit). */
export const ZIP_LIMIT = 500;

/**
 * Downloads the originals of some images as one ZIP: `POST /api/assets/zip` (the session cookie
 * authenticates), then the browser saves the answer through an object URL. Resolves with an error message
 * in plain words, or null when the download started.
 */
export async function downloadZip(ids: string[]): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch("/api/assets/zip", {
      method: "POST",
      headers: { "content-type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ ids }),
    });
  } catch {
    return "Cannot reach the server. Check your connection and try again.";
  }
  if (!response.ok) {
    let code = "INTERNAL_SERVER_ERROR";
    try {
      const body = (await response.json()) as { error?: { code?: unknown } };
      if (typeof body.error?.code === "string") code = body.error.code;
    } catch {
      // Not JSON (a proxy's page): the generic words below.
    }
    if (code === "NOT_FOUND") return "Some of these images are gone. Reload the library and try again.";
    return codeMessage(code);
  }
  let blob: Blob;
  try {
    blob = await response.blob();
  } catch {
    return "The download was interrupted. Try again.";
  }
  saveBlob(blob, zipFileName(response.headers.get("content-disposition")));
  return null;
}

/** Saves a blob as a file through a temporary `<a download>`; the object URL is released afterwards. */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.rel = "noopener";
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
