// The runnable examples of the Docs page, as the exact files that e2e/docs-examples.test.ts runs.
import createTaskSh from "./examples/create-task.sh?raw";
import followTaskMjs from "./examples/follow-task.mjs?raw";
import graphqlClientMjs from "./examples/graphql-client.mjs?raw";
import uploadReferenceSh from "./examples/upload-reference.sh?raw";
import verifyWebhookMjs from "./examples/verify-webhook.mjs?raw";
import whoamiSh from "./examples/whoami.sh?raw";

export interface Example {
  /** The file name, as it is in the repository (client/src/lib/developer/examples/). */
  file: string;
  language: "bash" | "javascript";
  code: string;
  /** How to run it. */
  run: string;
}

const example = (file: string, code: string, run: string): Example => ({
  file,
  language: file.endsWith(".sh") ? "bash" : "javascript",
  code,
  run,
});

export const EXAMPLES = {
  whoami: example("whoami.sh", whoamiSh, "NOVART_API_KEY=nvk_… bash whoami.sh"),
  createTask: example("create-task.sh", createTaskSh, "NOVART_API_KEY=nvk_… bash create-task.sh"),
  uploadReference: example(
    "upload-reference.sh",
    uploadReferenceSh,
    "NOVART_API_KEY=nvk_… bash upload-reference.sh photo.jpg",
  ),
  graphqlClient: example(
    "graphql-client.mjs",
    graphqlClientMjs,
    "NOVART_API_KEY=nvk_… node graphql-client.mjs '{ me { email } }'",
  ),
  followTask: example(
    "follow-task.mjs",
    followTaskMjs,
    "npm install graphql-ws ws && NOVART_API_KEY=nvk_… node follow-task.mjs",
  ),
  verifyWebhook: example(
    "verify-webhook.mjs",
    verifyWebhookMjs,
    "npm install standardwebhooks && NOVART_WEBHOOK_SECRET=whsec_… PORT=8080 node verify-webhook.mjs",
  ),
} as const;
