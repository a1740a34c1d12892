/**
 * Saves text as a file through the browser's download (a Blob and an object URL: nothing leaves the page).
 * The URL is released once the download has started.
 */
export function downloadText(text: string, fileName: string, type = "text/plain;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
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
