/**
 * A nudge for the restriction banner to ask the server again: a request answered ACCOUNT_RESTRICTED (the
 * Studio's submit) means a restriction started that the banner may not know of yet.
 */
export const restrictionCheck = $state({ count: 0 });

export function recheckRestrictions(): void {
  restrictionCheck.count++;
}
