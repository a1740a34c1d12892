import { codeMessage } from "$lib/graphql/errors";
import { REFERENCE_MAX } from "./task-status";

/** What `POST /api/uploads` accepts (the server decides by the bytes; this only saves a useless upload). */
export const UPLOAD_TYPES = ["image/png", "image/jpeg", "image/webp"];
export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;

export interface Reference {
  /** Local id, for the list. */
  key: number;
  name: string;
  /** An object URL of the file, for the thumbnail. */
  previewUrl: string;
  status: "uploading" | "done" | "error";
  /** Bytes sent, 0–1. */
  progress: number;
  /** The upload's id, once done. */
  id: string | null;
  width: number | null;
  height: number | null;
  error: string | null;
  /** Whether sending it again may work (a dropped connection, a server error). */
  retryable: boolean;
}

interface UploadAnswer {
  id?: string;
  width?: number;
  height?: number;
  error?: { code?: string; message?: string };
}

let nextKey = 1;

/**
 * The reference images of the next task: each file is sent to `POST /api/uploads` as the raw body (the
 * session cookie authenticates it) with XMLHttpRequest, for its upload progress.
 */
export class References {
  items = $state<Reference[]>([]);
  /** Why files were not added (too many), shown beside the drop zone. */
  notice = $state<string | null>(null);

  // Not state: the running requests and the files, by key (for abort and retry).
  #requests: Record<number, XMLHttpRequest> = {};
  #files: Record<number, File> = {};

  get uploading(): boolean {
    return this.items.some((r) => r.status === "uploading");
  }

  get failed(): boolean {
    return this.items.some((r) => r.status === "error");
  }

  get ids(): string[] {
    return this.items.filter((r) => r.status === "done" && r.id).map((r) => r.id!);
  }

  get full(): boolean {
    return this.items.length >= REFERENCE_MAX;
  }

  /** Adds image files (from the picker, a drop or a paste), up to the limit. */
  add(files: Iterable<File>): void {
    this.notice = null;
    const list = [...files];
    const room = REFERENCE_MAX - this.items.length;
    if (list.length > room) {
      this.notice =
        room <= 0
          ? `At most ${REFERENCE_MAX} reference images: remove one to add another.`
          : `At most ${REFERENCE_MAX} reference images: only the first ${room === 1 ? "one was" : `${room} were`} added.`;
    }
    for (const file of list.slice(0, Math.max(0, room))) this.#start(file);
  }

  remove(key: number): void {
    const item = this.items.find((r) => r.key === key);
    this.#requests[key]?.abort();
    delete this.#requests[key];
    delete this.#files[key];
    if (item) URL.revokeObjectURL(item.previewUrl);
    this.items = this.items.filter((r) => r.key !== key);
    this.notice = null;
  }

  /** Sends a failed file again, in the same place. */
  retry(key: number): void {
    const file = this.#files[key];
    if (!file) return;
    this.#update(key, { status: "uploading", progress: 0, error: null });
    this.#send(key, file);
  }

  /** Stops every upload and frees the previews (the page is left). */
  dispose(): void {
    for (const request of Object.values(this.#requests)) request.abort();
    this.#requests = {};
    this.#files = {};
    for (const item of this.items) URL.revokeObjectURL(item.previewUrl);
  }

  #update(key: number, change: Partial<Reference>): void {
    const index = this.items.findIndex((r) => r.key === key);
    if (index >= 0) this.items[index] = { ...this.items[index], ...change };
  }

  #start(file: File): void {
    const key = nextKey++;
    const item: Reference = {
      key,
      name: file.name || "Pasted image",
      previewUrl: URL.createObjectURL(file),
      status: "uploading",
      progress: 0,
      id: null,
      width: null,
      height: null,
      error: null,
      retryable: false,
    };
    this.items = [...this.items, item];
    this.#files[key] = file;

    // Saves a pointless upload; the server checks the bytes whatever the browser says.
    if (file.type && !UPLOAD_TYPES.includes(file.type)) {
      this.#update(key, { status: "error", error: codeMessage("UNSUPPORTED_MEDIA_TYPE") });
      return;
    }
    if (file.size > UPLOAD_MAX_BYTES) {
      this.#update(key, { status: "error", error: "The image is larger than 10 MB." });
      return;
    }
    this.#send(key, file);
  }

  #send(key: number, file: File): void {
    const request = new XMLHttpRequest();
    this.#requests[key] = request;
    request.open("POST", "/api/uploads");
    request.withCredentials = true;
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) this.#update(key, { progress: event.loaded / event.total });
    };
    request.onload = () => {
      delete this.#requests[key];
      const answer = (request.response ?? {}) as UploadAnswer;
      if (request.status === 201 && answer.id) {
        this.#update(key, {
          status: "done",
          progress: 1,
          id: answer.id,
          width: answer.width ?? null,
          height: answer.height ?? null,
        });
      } else {
        const code = answer.error?.code ?? (request.status === 413 ? "PAYLOAD_TOO_LARGE" : "INTERNAL_SERVER_ERROR");
        const retryable = request.status >= 500 || code === "RATE_LIMITED";
        this.#update(key, { status: "error", error: uploadErrorMessage(code), retryable });
      }
    };
    request.onerror = () => {
      delete this.#requests[key];
      this.#update(key, {
        status: "error",
        error: "The upload was interrupted. Check your connection.",
        retryable: true,
      });
    };
    request.send(file);
  }
}

/** Plain words for an upload's error code. */
export function uploadErrorMessage(code: string): string {
  if (code === "PAYLOAD_TOO_LARGE") return "The image is larger than 10 MB.";
  if (code === "BAD_REQUEST") return "The image could not be read: it may be damaged.";
  if (code === "UNAUTHENTICATED") return "Your session has ended. Sign in again to upload.";
  return codeMessage(code);
}

/** The files of a drop or a paste (any type: the ones that are not images get an error in words). */
export function droppedFiles(data: DataTransfer | null): File[] {
  return data ? [...data.files] : [];
}
