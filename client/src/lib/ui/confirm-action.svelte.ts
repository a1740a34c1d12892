/**
 * The state behind a confirmation dialog about one thing (a key to revoke, a batch to disable): which thing,
 * whether the dialog is open, whether the action runs, and why it failed.
 */
export class ConfirmAction<T> {
  target = $state<T | null>(null);
  open = $state(false);
  busy = $state(false);
  error = $state<string | null>(null);

  /** Opens the dialog about `target`, without the last attempt's error. */
  ask(target: T): void {
    this.target = target;
    this.error = null;
    this.open = true;
  }

  /**
   * Runs the action on the target. `act` answers why it failed (shown in the dialog, which stays open) or null;
   * then the dialog closes and `run` answers the target it acted on.
   */
  async run(act: (target: T) => Promise<string | null>): Promise<T | null> {
    const target = this.target;
    if (target === null) return null;
    this.busy = true;
    this.error = null;
    const error = await act(target);
    this.busy = false;
    if (error !== null) {
      this.error = error;
      return null;
    }
    this.open = false;
    return target;
  }
}
