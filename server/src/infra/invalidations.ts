import type { PubSubBus } from "./pubsub.js";

/**
 * The bus topic that tells every process to drop entries of a process-local cache, and the rule for keeping
 * one: a cache keeps what it read only while the topic is heard (Redis confirmed the SUBSCRIBE, so no change
 * announced later can be missed) and only if no invalidation arrived since the read began (the row read may
 * predate the change announced). Used by the credential and webhook endpoint caches.
 */
export class Invalidations<T> {
  private state: "idle" | "subscribing" | "heard" = "idle";
  /** Bumped by every invalidation and when the topic starts being heard. */
  private epoch = 0;
  private stream: AsyncIterator<T> | undefined;

  constructor(
    private readonly pubsub: PubSubBus,
    private readonly topic: string,
    /** Drops what the event names (the epoch is bumped already). */
    private readonly onEvent: (event: T) => void,
    /** The bus is gone (shutdown): the cache must drop everything, as nothing it keeps can be kept fresh. */
    private readonly onLost: () => void,
  ) {}

  /** Call before reading the source: starts listening (once) and says what `mayKeep` needs. */
  beginRead(): number {
    if (this.state === "idle") this.listen();
    return this.epoch;
  }

  /** Whether a read begun at `epoch` may be kept: the topic is heard and nothing was invalidated since. */
  mayKeep(epoch: number): boolean {
    return this.state === "heard" && epoch === this.epoch;
  }

  /** A change in this process: reads begun before it are not kept. */
  invalidate(): void {
    this.epoch++;
  }

  private listen(): void {
    this.state = "subscribing";
    const events = this.pubsub.subscribe<T>(this.topic)[Symbol.asyncIterator]();
    // The first pull subscribes; reads begun before Redis confirmed it may have missed a change, so the epoch moves.
    const first = events.next();
    void this.pubsub.heard(this.topic).then((heard) => {
      if (this.state !== "subscribing") return;
      if (heard) {
        this.epoch++;
        this.state = "heard";
      } else {
        // Redis refused or was down: stop, and the next read subscribes again.
        this.state = "idle";
        void events.return?.();
      }
    });
    this.stream = events;
    void (async () => {
      for (let next = await first; !next.done; next = await events.next()) {
        this.epoch++;
        this.onEvent(next.value);
      }
    })()
      .catch(() => undefined)
      .then(() => {
        // The stream ended (the bus is gone, or it was not heard): nothing kept can be kept fresh any more.
        if (this.stream !== events) return;
        this.state = "idle";
        this.epoch++;
        this.onLost();
      });
  }
}
