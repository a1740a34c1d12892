import {
  Kind,
  parse,
  print,
  type ConstValueNode,
  type FieldDefinitionNode,
  type InputValueDefinitionNode,
  type StringValueNode,
  type TypeNode,
} from "graphql";

/** A type as written in a signature (`[Task!]!`) and the name it refers to (`Task`). */
export interface TypeRef {
  text: string;
  named: string;
}

export interface RefArgument {
  name: string;
  description: string;
  type: TypeRef;
  defaultValue: string | null;
}

export interface RefField {
  name: string;
  description: string;
  type: TypeRef;
  args: RefArgument[];
}

export type OperationKind = "query" | "mutation" | "subscription";

export interface RefOperation extends RefField {
  kind: OperationKind;
}

export type TypeKind = "object" | "input" | "enum" | "scalar" | "interface" | "union";

export interface RefType {
  name: string;
  kind: TypeKind;
  description: string;
  fields: RefField[];
  values: { name: string; description: string }[];
  members: string[];
}

export interface ApiReference {
  operations: RefOperation[];
  types: RefType[];
}

/** Scalars every GraphQL schema has; they get no entry of their own. */
export const BUILT_IN_SCALARS = new Set(["String", "Int", "Float", "Boolean", "ID"]);

function typeRef(node: TypeNode): TypeRef {
  let named = node;
  while (named.kind !== Kind.NAMED_TYPE) named = named.type;
  return { text: print(node), named: named.name.value };
}

const text = (description: StringValueNode | undefined) => description?.value.trim() ?? "";

function argument(node: InputValueDefinitionNode): RefArgument {
  return {
    name: node.name.value,
    description: text(node.description),
    type: typeRef(node.type),
    defaultValue: node.defaultValue ? print(node.defaultValue as ConstValueNode) : null,
  };
}

function field(node: FieldDefinitionNode | InputValueDefinitionNode): RefField {
  return {
    name: node.name.value,
    description: text(node.description),
    type: typeRef(node.type),
    args: node.kind === Kind.FIELD_DEFINITION ? (node.arguments ?? []).map(argument) : [],
  };
}

const ROOTS: Record<string, OperationKind> = { Query: "query", Mutation: "mutation", Subscription: "subscription" };

/** The API reference of a schema in SDL: its root fields as operations, and every other type. */
export function buildReference(sdl: string): ApiReference {
  const document = parse(sdl, { noLocation: true });
  const operations: RefOperation[] = [];
  const types: RefType[] = [];
  const base = (name: string, kind: TypeKind, description: StringValueNode | undefined): RefType => ({
    name,
    kind,
    description: text(description),
    fields: [],
    values: [],
    members: [],
  });
  for (const definition of document.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION: {
        const root = ROOTS[definition.name.value];
        if (root) {
          for (const f of definition.fields ?? []) operations.push({ ...field(f), kind: root });
        } else {
          types.push({
            ...base(definition.name.value, "object", definition.description),
            fields: (definition.fields ?? []).map(field),
          });
        }
        break;
      }
      case Kind.INTERFACE_TYPE_DEFINITION:
        types.push({
          ...base(definition.name.value, "interface", definition.description),
          fields: (definition.fields ?? []).map(field),
        });
        break;
      case Kind.INPUT_OBJECT_TYPE_DEFINITION:
        types.push({
          ...base(definition.name.value, "input", definition.description),
          fields: (definition.fields ?? []).map(field),
        });
        break;
      case Kind.ENUM_TYPE_DEFINITION:
        types.push({
          ...base(definition.name.value, "enum", definition.description),
          values: (definition.values ?? []).map((v) => ({ name: v.name.value, description: text(v.description) })),
        });
        break;
      case Kind.UNION_TYPE_DEFINITION:
        types.push({
          ...base(definition.name.value, "union", definition.description),
          members: (definition.types ?? []).map((t) => t.name.value),
        });
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
        types.push(base(definition.name.value, "scalar", definition.description));
        break;
      default:
        break;
    }
  }
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return { operations: operations.sort(byName), types: types.sort(byName) };
}

function matches(words: string[], ...texts: string[]): boolean {
  const haystack = texts.join(" ").toLowerCase();
  return words.every((word) => haystack.includes(word));
}

/**
 * The operations and types that mention every word of `query` in their name, description, or the names and
 * descriptions of their fields, arguments and values. An empty query keeps everything.
 */
export function searchReference(reference: ApiReference, query: string): ApiReference {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return reference;
  const fieldTexts = (f: RefField) => [
    f.name,
    f.description,
    f.type.named,
    ...f.args.flatMap((a) => [a.name, a.description]),
  ];
  return {
    operations: reference.operations.filter((op) => matches(words, op.kind, ...fieldTexts(op))),
    types: reference.types.filter((type) =>
      matches(
        words,
        type.name,
        type.kind,
        type.description,
        ...type.fields.flatMap(fieldTexts),
        ...type.values.flatMap((v) => [v.name, v.description]),
        ...type.members,
      ),
    ),
  };
}

/** The anchor of a type's entry on the reference page. */
export function typeAnchor(name: string): string {
  return `type-${name}`;
}

export function operationAnchor(op: Pick<RefOperation, "kind" | "name">): string {
  return `${op.kind}-${op.name}`;
}
