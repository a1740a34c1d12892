import { composeMail, type Mail } from "../../infra/mail.js";

/** Every mail the accounts module sends; links point at studio pages under PUBLIC_URL. */
export const accountMails = {
  verify: (to: string, url: string): Mail =>
    composeMail(
      to,
      "Confirm your email address for Novart Studio",
      [
        "Welcome to Novart Studio!",
        "Confirm your email address to finish creating your account. The link works once and expires in 24 hours.",
      ],
      { label: "Confirm my email", url },
    ),
  alreadyRegistered: (to: string, signInUrl: string, resetUrl: string): Mail =>
    composeMail(to, "Someone tried to register with your email address", [
      "Somebody (maybe you) tried to create a Novart Studio account with this address, which already has one.",
      `To sign in, go to ${signInUrl}. Forgot your password? Reset it at ${resetUrl}.`,
      "If this was not you, you can ignore this message.",
    ]),
  reset: (to: string, url: string): Mail =>
    composeMail(
      to,
      "Reset your Novart Studio password",
      [
        "We received a request to reset the password of your Novart Studio account.",
        "The link works once and expires in 1 hour. If you did not ask for it, ignore this message: your password stays as it is.",
      ],
      { label: "Choose a new password", url },
    ),
  changeEmail: (to: string, url: string): Mail =>
    composeMail(
      to,
      "Confirm your new email address for Novart Studio",
      [
        "Confirm this address to make it the sign-in email of your Novart Studio account. The link expires in 24 hours.",
      ],
      { label: "Confirm the new address", url },
    ),
  emailChangeRequested: (to: string, newEmail: string): Mail =>
    composeMail(to, "Your Novart Studio email address is being changed", [
      `A change of your account's email address to ${newEmail} was requested. It takes effect when the new address is confirmed.`,
      "If this was not you, change your password now.",
    ]),
  passwordChanged: (to: string): Mail =>
    composeMail(to, "Your Novart Studio password was changed", [
      "The password of your Novart Studio account was just changed and your other sessions were signed out.",
      "If this was not you, reset your password at once.",
    ]),
};
