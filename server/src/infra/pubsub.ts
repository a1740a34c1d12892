import { createPubSub, type PubSub } from "@graphql-yoga/subscription";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import type { RedisClient } from "./redis.js";

/**
 * Cross-process pub/sub over Redis. Topics are namespaced by the Redis prefix so that several
 * installations (or test files) can share one Redis server without hearing each other.
 */
export class PubSubBus {
  readonly pubSub: PubSub<Record<string, [unknown]>>;
  private readonly target: TopicTarget;

  constructor(
    publishClient: RedisClient,
    subscribeClient: RedisClient,
    private readonly prefix: string,
  ) {
    // The event target drops the promises of PUBLISH, SUBSCRIBE and UNSUBSCRIBE: once Redis has been down
    // longer than the clients' retries, they reject, and an unhandled rejection ends the process. Events are
    // best effort (a subscriber starts from the current state), and the clients' "error" events are logged.
    const ignore = () => undefined;
    const publisher = {
      publish: (channel: string, message: string) => publishClient.publish(channel, message).catch(ignore),
    };
    const subscriber = {
      on: (event: "message", listener: (channel: string, message: string) => void) =>
        subscribeClient.on(event, listener),
      subscribe: (channel: string) => {
        const done = subscribeClient.subscribe(channel).then(
          () => true,
          () => false,
        );
        this.subscribing.set(channel, done);
        return done;
      },
      unsubscribe: (channel: string) => {
        this.subscribing.delete(channel);
        return subscribeClient.unsubscribe(channel).catch(ignore);
      },
    };
    const eventTarget = createRedisEventTarget({
      publishClient: publisher as unknown as RedisClient,
      subscribeClient: subscriber as unknown as RedisClient,
    });
    this.target = eventTarget as unknown as TopicTarget;
    this.pubSub = createPubSub({ eventTarget }) as PubSub<Record<string, [unknown]>>;
  }

  /** Each channel's latest SUBSCRIBE: true once Redis confirmed it, false if it gave up. */
  private readonly subscribing = new Map<string, Promise<boolean>>();

  /**
   * Whether the subscription of a topic a stream listens to is in place: resolves true once Redis confirmed
   * it, false if it failed (or nothing listens), with no time limit. For caches that may keep data only while
   * they hear its invalidations.
   */
  heard(topic: string): Promise<boolean> {
    return this.subscribing.get(this.channel(topic)) ?? Promise.resolve(false);
  }

  /**
   * Resolves once Redis has confirmed the subscription of a topic a stream listens to (see `subscribe`), so a
   * state read after it misses no event published after that read; at most `timeoutMs` (Redis may be down:
   * the caller goes on, as it did before it waited).
   */
  async subscribed(topic: string, timeoutMs = 2000): Promise<void> {
    const pending = this.subscribing.get(this.channel(topic));
    if (!pending) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  channel(topic: string): string {
    return `${this.prefix}:${topic}`;
  }

  publish<T>(topic: string, payload: T): void {
    this.pubSub.publish(this.channel(topic), payload);
  }

  /**
   * Every event of a topic from the first pull on, until `return()`. A plain queue per subscriber rather than
   * the yoga pub/sub's Repeater (eight promises per event and subscriber): a live event goes to every
   * subscriber of its topic, so this is the per-subscriber cost of fan-out.
   */
  subscribe<T>(topic: string): AsyncIterable<T> {
    const channel = this.channel(topic);
    return { [Symbol.asyncIterator]: () => new TopicStream<T>(this.target, channel) };
  }
}

interface TopicTarget {
  addEventListener(topic: string, listener: (event: { detail: unknown }) => void): void;
  removeEventListener(topic: string, listener: (event: { detail: unknown }) => void): void;
}

/** Events a subscriber has not pulled yet, at most; past that it fails (a consumer that stopped reading). */
const MAX_QUEUED_EVENTS = 1024;

class TopicStream<T> implements AsyncIterator<T, undefined> {
  private queue: T[] = [];
  private waiting: ((result: IteratorResult<T, undefined>) => void)[] = [];
  private listening = false;
  private done = false;
  private error: Error | undefined;

  constructor(
    private readonly target: TopicTarget,
    private readonly channel: string,
  ) {}

  private readonly listener = (event: { detail: unknown }) => {
    const waiting = this.waiting.shift();
    if (waiting) return waiting({ value: event.detail as T, done: false });
    if (this.queue.length < MAX_QUEUED_EVENTS) return void this.queue.push(event.detail as T);
    this.error = new Error(`more than ${MAX_QUEUED_EVENTS} events waiting on ${this.channel}`);
    this.stop();
  };

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (!this.listening) {
      // Subscribes on the first pull, as the Repeater did.
      this.listening = true;
      this.target.addEventListener(this.channel, this.listener);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.queue = [];
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  private stop() {
    if (this.done) return;
    this.done = true;
    if (this.listening) this.target.removeEventListener(this.channel, this.listener);
    for (const waiting of this.waiting.splice(0)) waiting({ value: undefined, done: true });
  }
}
