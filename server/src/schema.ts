import fs from "node:fs";
import {
  GraphQLObjectType,
  lexicographicSortSchema,
  printSchema,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from "graphql";
import { createPubSub } from "@graphql-yoga/subscription";
import { buildSchema, getMetadataStorage, type AuthChecker, type BuildSchemaOptions, type PubSub } from "type-graphql";
import type { Context } from "./infra/context.js";
import { AccountsResolver } from "./modules/accounts/accounts.resolver.js";
import { ApiKeysResolver } from "./modules/accounts/api-keys.resolver.js";
import { authorize } from "./modules/accounts/authorization.js";
import { CreditsResolver } from "./modules/credits/credits.resolver.js";
import { RedemptionResolver } from "./modules/credits/redemption.resolver.js";
import { ReferralResolver } from "./modules/credits/referral.resolver.js";
import { AssetsResolver } from "./modules/assets/assets.resolver.js";
import { TaskResolver } from "./modules/generation/task.resolver.js";
import { ProviderStatsResolver } from "./modules/generation/provider-stats.js";
import { WebhooksResolver } from "./modules/webhooks/webhooks.resolver.js";
import { ModerationResolver } from "./modules/risk/moderation.resolver.js";
import { AuditResolver } from "./modules/risk/audit.js";
import { LimitsResolver } from "./modules/risk/limits.resolver.js";
import { AdminAccountsResolver } from "./modules/risk/admin-accounts.resolver.js";
import { RegistrationResolver } from "./modules/accounts/registration.resolver.js";
import { RestrictionResolver } from "./modules/risk/restriction.resolver.js";
import { ModelCatalogResolver } from "./modules/generation/model-catalog.resolver.js";
import { SystemResolver } from "./modules/system/system.resolver.js";

/** Every resolver class of every module. */
export const RESOLVER_CLASSES = [
  SystemResolver,
  ModelCatalogResolver,
  AccountsResolver,
  ApiKeysResolver,
  CreditsResolver,
  RedemptionResolver,
  ReferralResolver,
  TaskResolver,
  AssetsResolver,
  ProviderStatsResolver,
  WebhooksResolver,
  ModerationResolver,
  AuditResolver,
  RestrictionResolver,
  LimitsResolver,
  AdminAccountsResolver,
  RegistrationResolver,
] as const;

export type ResolverInstances = Map<Function, object>;

/** `@Authorized(...)` everywhere goes through the accounts module's single rule (it throws typed errors). */
const authChecker: AuthChecker<Context> = ({ context }, requirements) => {
  authorize(context.viewer, requirements);
  return true;
};

/**
 * type-graphql insists on a PubSub even though our subscriptions bring their own `subscribe` streams
 * (topics are prefixed per installation in `PubSubBus`); the default is an in-process one.
 */
export async function buildAppSchema(
  instances: ResolverInstances,
  pubSub: PubSub = createPubSub() as PubSub,
): Promise<GraphQLSchema> {
  const options: BuildSchemaOptions = {
    pubSub,
    resolvers: [...RESOLVER_CLASSES],
    container: {
      get: (cls: Function) => {
        const instance = instances.get(cls);
        if (!instance) throw new Error(`No instance of ${cls.name} was constructed in app.ts`);
        return instance;
      },
    },
    authChecker,
    validate: false,
  };
  const schema = await buildSchema(options);
  // A global middleware must see every field: then every field keeps type-graphql's resolver.
  if (!options.globalMiddlewares?.length) {
    useDefaultResolvers(schema);
    useDirectFieldResolvers(schema, options.container as { get(cls: Function): object });
  }
  return schema;
}

type Resolve = GraphQLFieldResolver<unknown, unknown>;
type ParamGetter = (root: unknown, context: Record<string, unknown>, info: GraphQLResolveInfo) => unknown;

/**
 * type-graphql calls a `@FieldResolver` through a wrapper that, on every call, allocates resolver data,
 * asks the container for the instance, walks the (empty) middleware chain and sorts and maps the parameter
 * list; a page of 20 tasks makes 40 such calls. A field resolver without `@Authorized`, middlewares or
 * arguments (its parameters are only `@Root`, `@Ctx` and `@Info`) gets a resolver that calls the method
 * directly with the same parameters. Anything else keeps type-graphql's wrapper, and so does a root that is
 * not yet an instance of its class (the wrapper converts it).
 */
function useDirectFieldResolvers(schema: GraphQLSchema, container: { get(cls: Function): object }): void {
  const storage = getMetadataStorage();
  const resolverClasses = new Set<Function>(RESOLVER_CLASSES);
  for (const resolver of storage.fieldResolvers) {
    if (resolver.kind !== "external" || !resolverClasses.has(resolver.target)) continue;
    if (resolver.roles?.length || resolver.middlewares?.length) continue;
    const objectClass = resolver.getObjectType?.();
    const objectType = storage.objectTypes.find((t) => t.target === objectClass);
    const type = objectType && schema.getType(objectType.name);
    if (!(type instanceof GraphQLObjectType)) continue;
    const field = type.getFields()[resolver.schemaName];
    const original = field?.resolve;
    if (!original) continue;
    const params = [...(resolver.params ?? [])].sort((a, b) => a.index - b.index);
    let rootClass: Function | undefined;
    const getters: ParamGetter[] = [];
    for (const param of params) {
      if (param.kind === "root" && !param.propertyName) {
        const declared = param.getType?.();
        if (typeof declared === "function" && declared !== Object) rootClass = declared as Function;
        getters.push((root) => root);
      } else if (param.kind === "context") {
        const name = param.propertyName;
        getters.push(name ? (_root, context) => context[name] : (_root, context) => context);
      } else if (param.kind === "info") {
        getters.push((_root, _context, info) => info);
      } else {
        getters.length = 0;
        break;
      }
    }
    if (getters.length !== params.length) continue;
    const instance = container.get(resolver.target) as Record<string, (...args: unknown[]) => unknown>;
    const method = instance[resolver.methodName];
    const direct: Resolve = (root, args, context, info) => {
      if (rootClass && !(root instanceof rootClass)) return original(root, args, context, info);
      const values = getters.map((get) => get(root, context as Record<string, unknown>, info));
      return method.apply(instance, values);
    };
    field.resolve = direct;
  }
}

/**
 * type-graphql wraps every plain field of an object type (`Task.prompt`) in a resolver of its own that
 * allocates resolver data and walks an empty middleware chain, once per field of every object in a
 * response. graphql-js's default resolver reads the same property, so plain fields get it instead. Fields
 * with `@Authorized`, middlewares, a field resolver or a renamed property keep type-graphql's resolver.
 */
function useDefaultResolvers(schema: GraphQLSchema): void {
  const storage = getMetadataStorage();
  for (const objectType of storage.objectTypes) {
    const type = schema.getType(objectType.name);
    if (!(type instanceof GraphQLObjectType)) continue;
    const fields = type.getFields();
    for (const field of objectType.fields ?? []) {
      const plain =
        field.name === field.schemaName &&
        !field.roles?.length &&
        !field.middlewares?.length &&
        !storage.fieldResolvers.some((r) => r.methodName === field.name && r.getObjectType?.() === field.target);
      if (plain && fields[field.schemaName]) fields[field.schemaName].resolve = undefined;
    }
  }
}

const HEADER = "# Generated from the type-graphql classes in server/src by `npm run schema`. Do not edit.\n\n";

/** The SDL as committed in schema/schema.graphql: sorted, so the file only changes when the API does. */
export function printAppSchema(schema: GraphQLSchema): string {
  return HEADER + printSchema(lexicographicSortSchema(schema)) + "\n";
}

export function writeSchemaFile(schema: GraphQLSchema, file: string): void {
  fs.writeFileSync(file, printAppSchema(schema));
}
