export interface Toast {
  id: number;
  message: string;
  tone: "info" | "success" | "danger";
  href?: string;
  linkLabel?: string;
}

let nextId = 1;

/** Background outcomes ("New message", "Signed out"), shown by the Toaster in the layout. */
export const toasts = $state<Toast[]>([]);

export function dismissToast(id: number): void {
  const index = toasts.findIndex((t) => t.id === id);
  if (index >= 0) toasts.splice(index, 1);
}

export function toast(
  message: string,
  options: Omit<Toast, "id" | "message" | "tone"> & { tone?: Toast["tone"] } = {},
) {
  const id = nextId++;
  toasts.push({ id, message, tone: options.tone ?? "info", href: options.href, linkLabel: options.linkLabel });
  // Keep the stack short.
  while (toasts.length > 4) toasts.shift();
  setTimeout(() => dismissToast(id), 6000);
  return id;
}
