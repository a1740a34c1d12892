import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { assertSafeKey, type Storage } from "./storage.js";
import { LRUCache } from "lru-cache";

/** Files under a directory (`DATA_DIR`). Writes go to a temporary file first, then rename: never half a file. */
export class LocalStorage implements Storage {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, key);
  }

  /** Directories made by this process (a task's files share one): one mkdir for them, not one per file. */
  private readonly made = new LRUCache<string, Promise<unknown>>({ max: 1000 });

  private ensureDirectory(directory: string): Promise<unknown> {
    let made = this.made.get(directory);
    if (!made) {
      made = fs.mkdir(directory, { recursive: true });
      made.catch(() => this.made.delete(directory));
      this.made.set(directory, made);
    }
    return made;
  }

  async put(key: string, data: Buffer): Promise<void> {
    const target = this.file(key);
    const directory = path.dirname(target);
    await this.ensureDirectory(directory);
    const temporary = `${target}.${process.pid}.${Date.now()}.tmp`;
    try {
      await fs.writeFile(temporary, data);
    } catch (err) {
      // The directory went since this process made it (someone emptied the store): make it again.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      this.made.delete(directory);
      await this.ensureDirectory(directory);
      await fs.writeFile(temporary, data);
    }
    await fs.rename(temporary, target);
  }

  get(key: string): Promise<Buffer> {
    return fs.readFile(this.file(key));
  }

  /** Opens the file before answering: a missing one rejects here (as S3 does), not later in the stream. */
  async stream(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const handle = await fs.open(this.file(key), "r");
    // autoClose: the stream closes the file when it ends, fails or is destroyed.
    return handle.createReadStream({ ...range, autoClose: true });
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await fs.stat(this.file(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }
}
