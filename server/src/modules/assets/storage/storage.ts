import type { Readable } from "node:stream";

/** Where files live. Keys are relative paths like `assets/<task>/<index>.png`; writes of a key are idempotent. */
export interface Storage {
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** A byte range (inclusive end), for HTTP Range requests. */
  stream(key: string, range?: { start: number; end: number }): Promise<Readable>;
  size(key: string): Promise<number | null>;
  delete(key: string): Promise<void>;
  /** Stores that serve files themselves (S3) give a presigned URL; the local store is served by `/files`. */
  presign?(key: string, options: PresignOptions): Promise<string>;
}

export interface PresignOptions {
  ttlSeconds: number;
  contentType: string;
  /** Ask the browser to save the file under this name. */
  downloadName?: string;
  /** The `Cache-Control` the store answers with. */
  cacheControl?: string;
}

export class StorageKeyError extends Error {}

/** Refuses keys that could escape the storage root. */
export function assertSafeKey(key: string): void {
  if (
    !/^[A-Za-z0-9][A-Za-z0-9._/-]{0,299}$/.test(key) ||
    key.split("/").some((p) => p === ".." || p === "." || p === "")
  ) {
    throw new StorageKeyError(`unsafe storage key ${JSON.stringify(key)}`);
  }
}
