/** The theme a person chose; "system" follows `prefers-color-scheme`. */
export type ThemeChoice = "system" | "light" | "dark";

// app.html reads the same key before the first paint; keep the two in step.
export const THEME_STORAGE_KEY = "novart-theme";

export function parseTheme(value: string | null | undefined): ThemeChoice {
  return value === "light" || value === "dark" ? value : "system";
}

export function readTheme(): ThemeChoice {
  try {
    return parseTheme(localStorage.getItem(THEME_STORAGE_KEY));
  } catch {
    // Storage can be blocked (private mode, strict settings): fall back to the system setting.
    return "system";
  }
}

/** Applies a choice to the document; `remember` also stores it for the next visit. */
export function applyTheme(choice: ThemeChoice, remember = true): void {
  const root = document.documentElement;
  if (choice === "system") delete root.dataset.theme;
  else root.dataset.theme = choice;
  if (!remember) return;
  try {
    if (choice === "system") localStorage.removeItem(THEME_STORAGE_KEY);
    else localStorage.setItem(THEME_STORAGE_KEY, choice);
  } catch {
    // Not remembered, but still applied for this page.
  }
}
