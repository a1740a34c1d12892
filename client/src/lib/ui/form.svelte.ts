import type { CombinedError } from "@urql/core";
import { tick } from "svelte";
import { formError, type FormError } from "$lib/graphql/errors";

/**
 * The state of one form: busy while its request runs, errors next to the fields they name (`fields`) and
 * the rest above the form (`error`). What the user typed lives in the page and is never cleared on error.
 */
export class FormState {
  busy = $state(false);
  fields = $state<Record<string, string>>({});
  error = $state<FormError | null>(null);
  /** The form element (`bind:this={form.element}`): its first invalid input gets the focus. */
  element = $state<HTMLFormElement>();

  readonly #known: readonly string[];

  /** `known`: the server's field names (`extensions.field`) this form shows inputs for. */
  constructor(known: readonly string[] = []) {
    this.#known = known;
  }

  /** Clears the errors before a new attempt. */
  start(): void {
    this.busy = true;
    this.fields = {};
    this.error = null;
  }

  /** Marks a field invalid without asking the server (checks in the browser). */
  invalid(field: string, message: string): void {
    this.fields = { ...this.fields, [field]: message };
  }

  get hasFieldErrors(): boolean {
    return Object.keys(this.fields).length > 0;
  }

  /** Shows a failed request's error next to its field, or above the form. */
  fail(error: CombinedError): FormError {
    const shown = formError(error);
    if (shown.field && this.#known.includes(shown.field)) this.fields = { [shown.field]: shown.message };
    else this.error = shown;
    this.busy = false;
    this.#focusInvalid();
    return shown;
  }

  done(): void {
    this.busy = false;
    this.#focusInvalid();
  }

  #focusInvalid(): void {
    if (!this.hasFieldErrors) return;
    void tick().then(() => this.element?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
  }
}
