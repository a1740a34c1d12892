import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError } from "graphql";

/**
 * Subscriptions are served over graphql-ws only. Over HTTP, Apollo would execute a subscription document like
 * a query, calling its fields' resolvers without an event (an internal error): refuse it before it runs.
 */
export const refuseSubscriptionsOverHttp: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation }) {
        if (operation?.operation === "subscription") {
          throw new GraphQLError("Subscriptions are served over WebSocket (graphql-ws) at /graphql.", {
            extensions: { code: "BAD_REQUEST", http: { status: 400 } },
          });
        }
      },
    };
  },
};
