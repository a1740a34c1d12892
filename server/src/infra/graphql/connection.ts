import { ArgsType, Field, Int, ObjectType, type ClassType } from "type-graphql";

@ObjectType({ description: "Where a page of a connection stands.", simpleResolvers: true })
export class PageInfo {
  @Field({ description: "Whether more items follow this page." })
  hasNextPage: boolean;

  @Field(() => String, { nullable: true, description: "Cursor of the last item of this page; pass it as `after`." })
  endCursor: string | null;
}

/** An edge whose cursor is encoded only when a client asks for it (most pages are read without). */
class LazyEdge<Row, Node> {
  constructor(
    readonly node: Node,
    private readonly row: Row,
    private readonly encode: (row: Row) => string,
  ) {}

  get cursor(): string {
    return this.encode(this.row);
  }
}

/** Builds a page from `limit + 1` fetched rows: the extra row only tells that another page exists. */
export function toConnection<Row extends { createdAt: Date; id: string }, Node>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Node,
  cursor: (row: Row) => string,
): { edges: { node: Node; cursor: string }[]; pageInfo: PageInfo } {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => new LazyEdge(map(row), row, cursor));
  const last = page.at(-1);
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? cursor(last) : null } };
}

/**
 * The `<Name>Edge` and `<Name>Connection` object types of a cursor connection over `node`, so a module
 * declares a page type in one line: `const TaskConnection = connectionType(Task, "Task", "tasks")`.
 */
export function connectionType<Node extends object>(node: ClassType<Node>, name: string, plural: string) {
  @ObjectType(`${name}Edge`, { description: `An edge of a page of ${plural}.`, simpleResolvers: true })
  class Edge {
    @Field(() => node, { description: "The item." })
    node: Node;

    @Field({ description: "Opaque cursor." })
    cursor: string;
  }

  @ObjectType(`${name}Connection`, { description: `A page of ${plural}, newest first.`, simpleResolvers: true })
  class Connection {
    @Field(() => [Edge], { description: `The ${plural}.` })
    edges: Edge[];

    @Field(() => PageInfo, { description: "Where this page stands." })
    pageInfo: PageInfo;
  }
  return Connection;
}

/**
 * The paging arguments of a list (`first`, `after`), for its args class to extend with its filters:
 * `@ArgsType() class TasksArgs extends PageArgs("task") { … }`.
 */
export function PageArgs(item: string, defaultSize = 20) {
  @ArgsType()
  abstract class Page {
    @Field(() => Int, { nullable: true, description: `Page size, 1–100 (default ${defaultSize}).` })
    first?: number;

    @Field(() => String, { nullable: true, description: `Cursor of the last ${item} of the previous page.` })
    after?: string | null;
  }
  return Page;
}
