// The GraphQL playground at /graphiql: GraphiQL bundled by our own build (no CDN), talking to this server
// with the studio's session cookie: queries and mutations over HTTP POST, subscriptions over graphql-ws.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { createClient } from "graphql-ws";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

const DEFAULT_QUERY = `# The Novart Studio API, as the account you are signed in with (the studio's session).
# To act as an API key instead, add a header: { "Authorization": "Bearer <key>" }.
# Run with Ctrl-Enter; subscriptions (e.g. \`subscription { heartbeat { at source } }\`) work too.

query Me {
  me {
    email
    displayName
  }
}
`;

const { protocol, host } = window.location;

const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  // The server answers plain JSON (no @defer / @stream).
  enableIncrementalDelivery: false,
  fetch: (input, init) => fetch(input, { ...init, credentials: "same-origin" }),
  // Same port and path as HTTP; the browser sends the session cookie with the upgrade request.
  wsClient: createClient({ url: `${protocol === "https:" ? "wss" : "ws"}://${host}/graphql`, lazy: true }),
});

/** The studio's remembered theme, if any, is the playground's first one too (GraphiQL remembers its own after). */
function studioTheme(): "light" | "dark" | undefined {
  try {
    const theme = localStorage.getItem("novart-theme");
    return theme === "light" || theme === "dark" ? theme : undefined;
  } catch {
    return undefined;
  }
}

createRoot(document.getElementById("graphiql")!).render(
  createElement(
    GraphiQL,
    { fetcher, defaultQuery: DEFAULT_QUERY, shouldPersistHeaders: false, defaultTheme: studioTheme() },
    createElement(
      GraphiQL.Logo,
      null,
      createElement("a", { href: "/developer", className: "studio-link" }, "Novart Studio"),
    ),
  ),
);
