import {
  createSourceEventStream,
  execute,
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type ValidationRule,
} from "graphql";
import type { Context as WsContext, SubscribePayload } from "graphql-ws";
import { LRUCache } from "lru-cache";
import type { WebSocket } from "ws";

/**
 * Shared execution of subscription events (graphql-ws, through its public `onSubscribe` and `subscribe`
 * options).
 *
 * graphql-ws executes the subscription document once per subscriber per event and serializes each result
 * on its own. Here subscribers fall into groups by (document, operation name, variables, visibility key),
 * where the visibility key captures everything the resolvers read from the context (the viewer's account,
 * role, scopes and restrictions): an event is executed once per group, its payload serialized once, and the
 * same frame (`{"id":…,"type":"next","payload":…}`, byte for byte what graphql-ws would send) written
 * straight to each member's socket.
 *
 * Each subscriber keeps its own source stream (its `subscribe` resolver ran with its own context, so
 * authorization, the starting state and per-subscriber filtering are unchanged); an event is shared when
 * the same event object reaches several members of a group, which is what the pub/sub bus hands every
 * listener of a topic. Events a source makes for one subscriber only (its starting state) are executed for
 * that subscriber alone.
 *
 * graphql-ws still handles connection init, subscribe, validation errors, complete, errors and keep-alive:
 * a member is the iterable graphql-ws holds for the operation; it yields nothing (frames are written
 * directly, so graphql-ws's `onNext` does not run for them — `formatResult` stands in for it), ends when
 * the source ends (graphql-ws then sends `complete`), rejects when the source fails (graphql-ws sends
 * `error`), and graphql-ws's `return()` on complete or close removes it from its group.
 */

/**
 * A subscription source may also describe itself as "a start of its own, then one shared stream filtered per
 * subscriber" (`shareLive`). Members of a group whose sources say so share one stream per `key`: the
 * stream's events are read once, executed once and written to every member whose filter accepts them — the
 * per-subscriber path is then a filter call and a socket write. The source itself is not iterated then.
 */
export const LIVE = Symbol("subscriptionLive");

export interface LiveSource<E = unknown> {
  /** What the shared stream is (a pub/sub topic): one stream per group and key. */
  key: string;
  /** Opens the shared stream (once per group and key, before any member's `start`). */
  open(): AsyncIterable<E>;
  /**
   * Reads the current state subscribers start from, as events. Optional: members of one stream share it
   * through `start`'s `snapshot` (see there).
   */
  snapshot?(): Promise<readonly E[]>;
  /**
   * The context the stream's events (and the members' starting events) are executed with, made once per
   * stream from the first member's (which it defaults to). It must see what that context sees: the group
   * shares one visibility.
   */
  context?(): unknown;
  /**
   * Per subscriber, once it has joined the stream (events from then on are kept for it): authorizes, reads
   * the events it starts with, and answers its filter for the stream's events (which may keep state).
   *
   * `snapshot()` answers this source's `snapshot` as read by the stream for this member: a read that began
   * after the member joined (so no event falls between it and the stream), shared by every member it is
   * valid for. Members of a stream are of one group (one visibility), so they would all read the same: a
   * burst of subscribers costs a read or two instead of one each, and the same event objects are executed
   * once for the group.
   */
  start(snapshot: () => Promise<readonly E[]>): Promise<{ initial: readonly E[]; accept(event: E): boolean }>;
}

/** Marks a subscription source as shareable (see LIVE); other consumers iterate `source` as before. */
export function shareLive<T extends AsyncIterable<unknown>, E>(source: T, live: LiveSource<E>): T {
  return Object.assign(source, { [LIVE]: live });
}

const CLOSING_BRACE = 0x7d;
/**
 * Bytes a socket may have waiting to be sent: a client that stopped reading (or reads slower than its
 * events come) would otherwise make the server buffer its frames without bound. Past this it is dropped;
 * clients reconnect and start again from the current state.
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** What `ws` keeps of a server socket that a frame written around its sender must respect (see below). */
interface SocketInternals {
  _socket?: { write(chunk: Buffer): boolean; writable?: boolean };
  _sender?: { _state?: unknown; _firstFragment?: unknown };
}

/**
 * Sends `prefix + payload + "}"` as one unmasked text frame, the bytes `socket.send(text)` would put on the
 * wire. The fan-out's cost per subscriber is this call, so the frame is built as one buffer (header
 * included) and written to the TCP socket in one write when `ws`'s sender is idle: no per-message options,
 * no header buffer, no cork and two-chunk writev. The sender is idle when it is in its default state (not
 * compressing or reading a Blob, so nothing queued) between messages: it writes each frame of its own
 * synchronously and whole, so ours cannot land inside one. graphql-ws sends text and pings only; this
 * server negotiates no compression (an uncompressed frame would be valid with it anyway). Anything else, or
 * a `ws` whose internals look different, goes through `socket.send`.
 */
function sendTextFrame(socket: WebSocket, prefix: Buffer, payload: Buffer) {
  const length = prefix.length + payload.length + 1;
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, text
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  prefix.copy(frame, header);
  payload.copy(frame, header + prefix.length);
  frame[frame.length - 1] = CLOSING_BRACE;
  const internals = socket as unknown as SocketInternals;
  const sender = internals._sender;
  if (sender?._state === 0 && sender._firstFragment === true && internals._socket?.writable) {
    internals._socket.write(frame);
  } else {
    socket.send(frame.subarray(header), { binary: false });
  }
}

/** A subscriber's socket and operation id, carried from `onSubscribe` to `subscribe` in the exec args. */
const MEMBER = Symbol("subscriptionFanoutMember");

type FanoutExecArgs = ExecutionArgs & { [MEMBER]?: { socket: WebSocket; id: string } };

export interface SubscriptionFanoutOptions<TContext> {
  schema: GraphQLSchema;
  /** Validation rules of the operation (graphql-ws's own `validate` does not run once `onSubscribe` answers). */
  rules: readonly ValidationRule[];
  /** Largest document, in tokens (the parser refuses larger ones). */
  maxTokens: number;
  /**
   * Everything the resolvers read from the context, as a string: subscribers share execution only when it
   * is equal. It must never leave out a fact that changes what a resolver answers.
   */
  visibilityKey(context: TContext): string;
  /** What graphql-ws's `onNext` would make of a result (error masking); applied once per group and event. */
  formatResult(result: ExecutionResult): ExecutionResult | Record<string, unknown>;
  /** Parsed and validated documents kept (by query text). */
  documentCacheSize?: number;
}

interface Group {
  key: string;
  members: Set<Member>;
  /** Serialized payload of an event object, executed once for the group. */
  payloads: WeakMap<object, Payload>;
  /** Shared live streams by key. */
  feeds: Map<string, Feed>;
}

interface Feed {
  key: string;
  group: Group;
  members: Set<Member>;
  iterator: AsyncIterator<unknown>;
  closed: boolean;
  /** Members that joined so far (a member's join number orders it against the snapshot reads). */
  joined: number;
  /** The latest snapshot read, valid for the members that joined before it began (join number ≤ `after`). */
  snapshot?: SnapshotRead;
  /** The read members who joined during `snapshot`'s wait for: it begins when that one is over. */
  nextSnapshot?: Promise<readonly unknown[]>;
  /** What the stream's events are executed with (the first member's args, with the source's context). */
  args: ExecutionArgs;
}

interface SnapshotRead {
  after: number;
  promise: Promise<readonly unknown[]>;
  done: boolean;
}

/**
 * An event's payload for a group: `value` once it is known (its UTF-8 bytes), so members write it without
 * waiting a tick and without encoding it again each.
 */
interface Payload {
  promise: Promise<Buffer>;
  value?: Buffer;
}

class Member implements AsyncGenerator<never, undefined> {
  private source: AsyncIterator<unknown> | undefined;
  private closed = false;
  private settle!: { resolve(r: IteratorResult<never, undefined>): void; reject(err: unknown): void };
  private readonly ended: Promise<IteratorResult<never, undefined>>;
  private started = false;
  /** Payloads waiting for their execution, in event order (events keep flowing meanwhile). */
  private readonly queue: Payload[] = [];
  /** The frame up to its payload: `{"id":"…","type":"next","payload":`, as UTF-8. */
  private readonly prefix: Buffer;

  constructor(
    private readonly fanout: SubscriptionFanout<unknown>,
    readonly group: Group,
    readonly socket: WebSocket,
    id: string,
    source: AsyncIterable<unknown>,
    private readonly args: ExecutionArgs,
    private readonly live?: LiveSource,
  ) {
    // A shared source is not iterated (a generator not started holds nothing).
    if (live) void (source as Partial<AsyncGenerator>).return?.(undefined)?.catch(() => undefined);
    else this.source = source[Symbol.asyncIterator]();
    this.prefix = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
    this.ended = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // graphql-ws may never call next() (a `complete` came first): the promise must not go unhandled.
    this.ended.catch(() => undefined);
  }

  next(): Promise<IteratorResult<never, undefined>> {
    if (!this.started && !this.closed) {
      this.started = true;
      void (this.live ? this.startLive(this.live) : this.pump());
    }
    return this.ended;
  }

  async return(): Promise<IteratorResult<never, undefined>> {
    this.end();
    return { done: true, value: undefined };
  }

  async throw(err: unknown): Promise<IteratorResult<never, undefined>> {
    this.end();
    throw err;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async [Symbol.asyncDispose]() {
    this.end();
  }

  /** The shared stream this member reads (live mode). */
  feed: Feed | undefined;
  /** Live mode: the stream's events that came before the member's start was read. */
  private early: { event: unknown; payload: Payload }[] | undefined;
  private accept: ((event: unknown) => boolean) | undefined;

  /** Live mode: this member's join number in its stream. */
  joinNumber = 0;

  private async startLive(live: LiveSource) {
    this.early = [];
    const feed = (this.feed = this.fanout.joinFeed(this, live, this.args));
    try {
      const { initial, accept } = await live.start(() => this.fanout.snapshotFor(feed, this.joinNumber, live));
      if (this.closed) return;
      this.accept = accept;
      // Its own starting events (objects of its own: executed for it alone), then what came meanwhile.
      for (const event of initial) this.enqueue(this.fanout.payloadFor(this.group, event, feed.args));
      const early = this.early;
      this.early = undefined;
      for (const { event, payload } of early) if (accept(event)) this.enqueue(payload);
    } catch (err) {
      this.fail(err);
    }
  }

  /** @internal An event of the shared stream, in order, its payload known (or failed). */
  deliver(event: unknown, payload: Payload) {
    if (this.closed) return;
    if (this.early) this.early.push({ event, payload });
    else if (this.accept!(event)) this.enqueue(payload);
  }

  /** @internal The shared stream ended (or failed): after what is queued, the member ends too. */
  async finish(error?: unknown) {
    if (error !== undefined) return this.fail(error);
    await this.drained;
    this.end();
  }

  private enqueue(payload: Payload) {
    if (this.queue.length === 0 && payload.value !== undefined) this.write(payload.value);
    else if (this.queue.push(payload) === 1) this.drain();
  }

  private end(error?: unknown) {
    if (this.closed) return;
    this.closed = true;
    this.fanout.leave(this);
    const source = this.source;
    this.source = undefined;
    // Ends the subscriber's source (its pub/sub listener goes; a generator waiting for its next event
    // finishes when that event comes, as it would under graphql-ws's own iteration).
    void source?.return?.()?.catch(() => undefined);
    if (error === undefined) this.settle.resolve({ done: true, value: undefined });
    else this.settle.reject(error);
  }

  /**
   * Reads the source without waiting for executions, so an event's execution starts as soon as the first
   * member of its group hears it (executions of consecutive events overlap); frames go out in event order.
   */
  private async pump() {
    try {
      for (;;) {
        const source = this.source;
        if (!source) return;
        const next = await source.next();
        if (next.done || this.closed) break;
        this.enqueue(this.fanout.payloadFor(this.group, next.value, this.args));
      }
      await this.drained;
      this.end();
    } catch (err) {
      this.fail(err);
    }
  }

  private drained: Promise<void> | undefined;

  private drain() {
    this.drained = (async () => {
      try {
        while (this.queue.length && !this.closed) {
          const payload = this.queue[0];
          this.write(payload.value ?? (await payload.promise));
          this.queue.shift();
        }
      } catch (err) {
        this.fail(err);
      }
    })();
  }

  private write(payload: Buffer) {
    // As graphql-ws's own send: nothing goes to a socket that is closing.
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.terminate();
      return;
    }
    sendTextFrame(this.socket, this.prefix, payload);
  }

  private fail(err: unknown) {
    this.queue.length = 0;
    this.end(err ?? new Error("subscription source failed"));
  }
}

export class SubscriptionFanout<TContext> {
  private readonly groups = new Map<string, Group>();
  private readonly documents: LRUCache<string, DocumentNode | readonly GraphQLError[]>;

  constructor(private readonly options: SubscriptionFanoutOptions<TContext>) {
    // Parsed and validated once per distinct text; the least recently used go first when it is full.
    this.documents = new LRUCache({ max: options.documentCacheSize ?? 500 });
  }

  /** Groups and their members, for tests and metrics. */
  stats(): { groups: number; members: number } {
    let members = 0;
    for (const group of this.groups.values()) members += group.members.size;
    return { groups: this.groups.size, members };
  }

  /**
   * graphql-ws's `onSubscribe`: parses (bounded) and validates the document once per distinct text, and
   * carries the subscriber's socket and id to `subscribe`. Errors are answered as graphql-ws would.
   */
  onSubscribe = (
    ctx: WsContext<Record<string, unknown> | undefined, { socket: WebSocket }>,
    id: string,
    payload: SubscribePayload,
  ): FanoutExecArgs | readonly GraphQLError[] => {
    const document = this.document(payload.query);
    if (!("kind" in document)) return document;
    return {
      schema: this.options.schema,
      document,
      operationName: payload.operationName,
      variableValues: payload.variables,
      [MEMBER]: { socket: ctx.extra.socket, id },
    };
  };

  /** graphql-ws's `subscribe`: the subscriber's own source stream, joined to its group. */
  subscribe = async (args: FanoutExecArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> => {
    const member = args[MEMBER];
    const source = await createSourceEventStream(args);
    if (!member || !(Symbol.asyncIterator in source)) {
      if (Symbol.asyncIterator in source) return mapEach(source, args);
      return source;
    }
    const key = JSON.stringify([
      (args.document.loc?.source.body ?? "") as string,
      args.operationName ?? null,
      args.variableValues ?? null,
      this.options.visibilityKey(args.contextValue as TContext),
    ]);
    let group = this.groups.get(key);
    if (!group) {
      group = { key, members: new Set(), payloads: new WeakMap(), feeds: new Map() };
      this.groups.set(key, group);
    }
    const live = (source as { [LIVE]?: LiveSource })[LIVE];
    const joined = new Member(this as SubscriptionFanout<unknown>, group, member.socket, member.id, source, args, live);
    group.members.add(joined);
    return joined;
  };

  /** @internal A member joins its group's shared stream for `live.key`, opened with its args if new. */
  joinFeed(member: Member, live: LiveSource, args: ExecutionArgs): Feed {
    const group = member.group;
    let feed = group.feeds.get(live.key);
    if (!feed) {
      const iterator = live.open()[Symbol.asyncIterator]();
      const feedArgs = live.context ? { ...args, contextValue: live.context() } : args;
      feed = { key: live.key, group, members: new Set(), iterator, closed: false, joined: 0, args: feedArgs };
      group.feeds.set(live.key, feed);
      void this.runFeed(feed);
    }
    feed.members.add(member);
    member.joinNumber = ++feed.joined;
    return feed;
  }

  /**
   * @internal The snapshot for a member that joined `feed` as number `joinNumber`: the latest read if it
   * began after that (the stream has kept every event since for the member), else the next read. One read
   * at a time: members that join while one is under way share the one after it, so a burst of N
   * subscribers costs a few reads, not N. A failed read fails those who share it; the next member reads
   * again.
   */
  snapshotFor(feed: Feed, joinNumber: number, live: LiveSource): Promise<readonly unknown[]> {
    const latest = feed.snapshot;
    if (latest && latest.after >= joinNumber) return latest.promise;
    if (!latest || latest.done) return this.readSnapshot(feed, live).promise;
    feed.nextSnapshot ??= latest.promise.then(
      () => this.nextRead(feed, live),
      () => this.nextRead(feed, live),
    );
    return feed.nextSnapshot;
  }

  private nextRead(feed: Feed, live: LiveSource): Promise<readonly unknown[]> {
    feed.nextSnapshot = undefined;
    return this.readSnapshot(feed, live).promise;
  }

  private readSnapshot(feed: Feed, live: LiveSource): SnapshotRead {
    const read: SnapshotRead = {
      after: feed.joined,
      promise: live.snapshot
        ? Promise.resolve().then(() => live.snapshot!())
        : Promise.reject(new Error(`live source ${live.key} has no snapshot`)),
      done: false,
    };
    feed.snapshot = read;
    read.promise.then(
      () => (read.done = true),
      () => {
        read.done = true;
        if (feed.snapshot === read) feed.snapshot = undefined;
      },
    );
    return read;
  }

  /** Reads a shared stream ahead of its executions; delivers each event to the members in order. */
  private async runFeed(feed: Feed) {
    const queue: { event: unknown; payload: Payload }[] = [];
    let draining: Promise<void> | undefined;
    const drain = async () => {
      while (queue.length) {
        const { event, payload } = queue[0];
        if (payload.value === undefined) await payload.promise;
        queue.shift();
        for (const member of feed.members) member.deliver(event, payload);
      }
      draining = undefined;
    };
    try {
      for (;;) {
        const next = await feed.iterator.next();
        if (next.done || feed.closed) break;
        queue.push({ event: next.value, payload: this.payloadFor(feed.group, next.value, feed.args) });
        draining ??= drain();
      }
      await draining;
      for (const member of [...feed.members]) void member.finish();
    } catch (err) {
      for (const member of [...feed.members]) void member.finish(err ?? new Error("subscription stream failed"));
    }
  }

  /** @internal A member completed, failed or was closed. */
  leave(member: Member) {
    const group = member.group;
    group.members.delete(member);
    const feed = member.feed;
    if (feed?.members.delete(member) && feed.members.size === 0) {
      feed.closed = true;
      if (group.feeds.get(feed.key) === feed) group.feeds.delete(feed.key);
      void feed.iterator.return?.()?.catch(() => undefined);
    }
    if (group.members.size === 0 && this.groups.get(group.key) === group) this.groups.delete(group.key);
  }

  /** @internal The serialized payload of an event for a group: executed once per event object. */
  payloadFor(group: Group, event: unknown, args: ExecutionArgs): Payload {
    const shared = typeof event === "object" && event !== null;
    if (shared) {
      const known = group.payloads.get(event);
      if (known) return known;
    }
    const payload: Payload = {
      promise: Promise.resolve(execute({ ...args, rootValue: event })).then(
        (result) => (payload.value = Buffer.from(JSON.stringify(this.options.formatResult(result)))),
      ),
    };
    // Members that fail on it hear it through their own promise; none must go unhandled.
    payload.promise.catch(() => undefined);
    if (shared) group.payloads.set(event, payload);
    return payload;
  }

  private document(query: string): DocumentNode | readonly GraphQLError[] {
    const known = this.documents.get(query);
    if (known) return known;
    let answer: DocumentNode | readonly GraphQLError[];
    try {
      const document = parse(query, { maxTokens: this.options.maxTokens });
      const errors = validate(this.options.schema, document, this.options.rules);
      answer = errors.length ? errors : document;
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      answer = [err];
    }
    this.documents.set(query, answer);
    return answer;
  }
}

/** Without a socket to write to (never the case under useServer): graphql's own per-event execution. */
async function* mapEach(source: AsyncIterable<unknown>, args: ExecutionArgs): AsyncGenerator<ExecutionResult> {
  for await (const event of source) yield await execute({ ...args, rootValue: event });
}
