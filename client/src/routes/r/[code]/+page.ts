import { redirect } from "@sveltejs/kit";
import type { PageLoad } from "./$types";

/** Referral links (`/r/CODE`) open the sign-up form with the code filled in. */
export const load: PageLoad = ({ params }) => {
  redirect(307, `/sign-up?ref=${encodeURIComponent(params.code)}`);
};
