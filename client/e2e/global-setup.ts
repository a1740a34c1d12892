// @ts-expect-error: a plain .mjs script without types
import { ensureBuild } from "../../scripts/ensure-build.mjs";

/** The browser tests run the built server and studio, exactly as `npm start` serves them. */
export default function setup() {
  ensureBuild(["server", "client"]);
}
