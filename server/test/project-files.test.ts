import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configSchema, loadConfig, REPO_ROOT } from "../src/infra/config.js";
import { ERROR_CODES } from "../src/infra/errors.js";

const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
const CONFIG_KEYS = Object.keys(configSchema.shape).sort();

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}

type ComposeVolume = string | { type?: string; source?: string; target?: string };
interface ComposeFile {
  services: Record<
    string,
    {
      build?: string | { context?: string; dockerfile?: string };
      volumes?: ComposeVolume[];
      env_file?: string | (string | { path: string })[];
    }
  >;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { file?: string }>;
  secrets?: Record<string, { file?: string }>;
}

/** The -f files of every `docker compose -f … -f …` command in a text, in order. */
function composeCommands(text: string): string[][] {
  return [...text.matchAll(/docker compose((?: -f \S+)+)/g)].map((m) =>
    [...m[1].matchAll(/-f (\S+)/g)].map((f) => f[1].replace(/`$/, "")),
  );
}

/** A host path one compose file names: what it is for, where it resolves to, and what must be there. */
interface HostPath {
  what: string;
  path: string;
  kind: "directory" | "file" | "bind source";
}

/**
 * Every host path of a compose file, resolved as Compose resolves it: against the project directory (the
 * directory of the FIRST -f file, whichever file the path is written in), a Dockerfile against its build
 * context; and the named volumes it mounts. No Docker engine or compose plugin runs here to do it.
 */
function hostPaths(compose: ComposeFile, projectDir: string): { paths: HostPath[]; named: string[] } {
  const paths: HostPath[] = [];
  const named: string[] = [];
  const at = (p: string) => path.resolve(projectDir, p.replace(/^~(?=\/|$)/, process.env.HOME ?? "~"));
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.build !== undefined) {
      const build = typeof service.build === "string" ? { context: service.build } : service.build;
      const context = at(build.context ?? ".");
      paths.push({ what: `${name}: build context`, path: context, kind: "directory" });
      const dockerfile = path.resolve(context, build.dockerfile ?? "Dockerfile");
      paths.push({ what: `${name}: Dockerfile`, path: dockerfile, kind: "file" });
    }
    for (const volume of service.volumes ?? []) {
      let type: string;
      let source: string | undefined;
      if (typeof volume === "string") {
        const parts = volume.split(":");
        source = parts.length > 1 ? parts[0] : undefined; // one part: an anonymous volume
        type = source !== undefined && /^[./~]/.test(source) ? "bind" : "volume";
      } else {
        type = volume.type ?? "volume";
        source = volume.source;
      }
      if (source === undefined) continue;
      if (type === "bind") paths.push({ what: `${name}: bind mount ${source}`, path: at(source), kind: "bind source" });
      else if (type === "volume") named.push(source);
    }
    const envFiles = service.env_file === undefined ? [] : [service.env_file].flat();
    for (const envFile of envFiles) {
      const file = typeof envFile === "string" ? envFile : envFile.path;
      paths.push({ what: `${name}: env_file ${file}`, path: at(file), kind: "file" });
    }
  }
  for (const [kind, entries] of [
    ["config", compose.configs],
    ["secret", compose.secrets],
  ] as const)
    for (const [name, entry] of Object.entries(entries ?? {}))
      if (entry.file) paths.push({ what: `${kind} ${name}`, path: at(entry.file), kind: "file" });
  return { paths, named };
}

/** What is wrong with each host path: missing, of the wrong kind, or outside the repository. */
function pathProblems(paths: HostPath[]): string[] {
  const problems: string[] = [];
  for (const { what, path: p, kind } of paths) {
    const relative = path.relative(REPO_ROOT, p);
    if (relative.startsWith("..") || path.isAbsolute(relative))
      problems.push(`${what}: ${p} is outside the repository`);
    const stat = fs.statSync(p, { throwIfNoEntry: false });
    if (!stat) problems.push(`${what}: ${relative} does not exist`);
    else if (kind === "directory" && !stat.isDirectory()) problems.push(`${what}: ${relative} is not a directory`);
    else if (kind === "file" && !stat.isFile()) problems.push(`${what}: ${relative} is not a file`);
  }
  return problems;
}

/** No Docker engine runs here: the compose file is checked against the server's own config schema. */
describe("docker-compose.yml", () => {
  const compose = parse(read("docker-compose.yml")) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const { postgres, redis, app } = compose.services;

  it("has postgres, redis and the app, each with a health check", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["app", "postgres", "redis"]);
    for (const service of [postgres, redis, app]) expect(service.healthcheck?.test).toBeTruthy();
  });

  /** The scale-out example: several API and worker processes behind nginx, checked like the main file. */
  describe("deploy/docker-compose.scale.yml", () => {
    const compose = parse(read("deploy/docker-compose.scale.yml"), { merge: true }) as {
      services: Record<string, ComposeService & { deploy?: { replicas: number } }>;
    };
    const { api, worker, proxy } = compose.services;
    // How README's "Scaling out" and the file's own header say to run it; the project directory Compose
    // resolves every file's relative paths against is the first -f file's (the command runs from the root).
    const readmeCommands = composeCommands(read("README.md").split("\n## Scaling out\n")[1]?.split("\n## ")[0] ?? "");
    const headerCommands = composeCommands(read("deploy/docker-compose.scale.yml").match(/^(?:#.*\n)+/)?.[0] ?? "");
    const files = readmeCommands[0] ?? [];
    const projectDir = path.resolve(REPO_ROOT, path.dirname(files[0] ?? "."));

    it("is documented as an override of the main file, the same way in README.md and in its header", () => {
      expect(files).toEqual(["docker-compose.yml", "deploy/docker-compose.scale.yml"]);
      expect(readmeCommands).toEqual([files]);
      expect(headerCommands).toEqual([files]);
      expect(projectDir).toBe(REPO_ROOT);
    });

    it("names only host paths that exist, resolved against the first -f file's directory as Compose does", () => {
      const declared = new Set<string>();
      const used: string[] = [];
      for (const file of files) {
        const parsed = parse(read(file), { merge: true }) as ComposeFile;
        const { paths, named } = hostPaths(parsed, projectDir);
        expect(pathProblems(paths), file).toEqual([]);
        for (const volume of Object.keys(parsed.volumes ?? {})) declared.add(volume);
        used.push(...named);
      }
      // The scale file builds the app from the repository's Dockerfile, like the main file.
      const scale = hostPaths(compose as unknown as ComposeFile, projectDir).paths;
      for (const service of ["api", "worker"]) {
        expect(scale.find((p) => p.what === `${service}: build context`)?.path).toBe(REPO_ROOT);
        expect(scale.find((p) => p.what === `${service}: Dockerfile`)?.path).toBe(path.join(REPO_ROOT, "Dockerfile"));
      }
      // Named volumes are declared in one of the merged files.
      expect(used.filter((v) => !declared.has(v))).toEqual([]);
    });

    it("runs API and worker roles as replicas, with settings the server accepts", () => {
      expect(api.environment!.ROLE).toBe("api");
      expect(worker.environment!.ROLE).toBe("worker");
      for (const service of [api, worker]) {
        expect(service.deploy!.replicas).toBeGreaterThanOrEqual(2);
        expect(Object.keys(service.environment!).filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
        expect(() => loadConfig(service.environment!)).not.toThrow();
        // One file store and one signing key for every process.
        expect(service.volumes).toContain("app-data:/app/data");
        expect(service.environment!.FILES_SECRET.length).toBeGreaterThanOrEqual(32);
        expect(new URL(service.environment!.DATABASE_URL).hostname).toBe("postgres");
        expect(new URL(service.environment!.REDIS_URL).hostname).toBe("redis");
      }
      expect(api.environment!.TRUST_PROXY).toBe("true");
    });

    it("puts nginx in front of the API replicas on the app's port, WebSockets included", () => {
      expect(proxy.ports).toEqual([`${api.environment!.PORT}:4000`]);
      const nginx = read("deploy/nginx.conf");
      expect(nginx).toContain(`server api:${api.environment!.PORT};`);
      expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
      expect(nginx).toMatch(/client_max_body_size 11m;/);
      // The mounted config is this deploy/nginx.conf, wherever the mount's relative path resolves.
      const [source, target] = proxy.volumes![0].split(":");
      expect(path.resolve(projectDir, source)).toBe(path.join(REPO_ROOT, "deploy/nginx.conf"));
      expect(target).toBe("/etc/nginx/conf.d/default.conf");
    });
  });

  it("builds the app from the Dockerfile, which runs the built server", () => {
    expect(app.build).toEqual({ context: ".", dockerfile: "Dockerfile" });
    const dockerfile = read("Dockerfile");
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toContain('"server/dist/server/src/main.js"');
  });

  it("sets only variables the server knows, and they pass its validation", () => {
    const env = app.environment ?? {};
    expect(Object.keys(env).filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
    const required = CONFIG_KEYS.filter(
      (k) => !configSchema.shape[k as keyof typeof configSchema.shape].safeParse(undefined).success,
    );
    expect(required.filter((k) => !(k in env))).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it("points DATABASE_URL at the postgres service with its credentials", () => {
    const url = new URL(app.environment!.DATABASE_URL);
    const pgEnv = postgres.environment!;
    expect(url.hostname).toBe("postgres");
    expect(url.port || "5432").toBe("5432");
    expect(decodeURIComponent(url.username)).toBe(pgEnv.POSTGRES_USER);
    expect(decodeURIComponent(url.password)).toBe(pgEnv.POSTGRES_PASSWORD);
    expect(url.pathname).toBe(`/${pgEnv.POSTGRES_DB}`);
    expect(postgres.volumes?.[0]).toMatch(/^postgres-data:/);
    expect(compose.volumes).toHaveProperty("postgres-data");
  });

  it("points REDIS_URL at the redis service", () => {
    const url = new URL(app.environment!.REDIS_URL);
    expect(url.hostname).toBe("redis");
    expect(url.port || "6379").toBe("6379");
  });

  it("publishes the port the app listens on, and starts it after healthy services", () => {
    const port = app.environment!.PORT;
    expect(app.ports?.map((p) => p.split(":").at(-1))).toContain(port);
    expect(JSON.stringify(app.healthcheck?.test)).toContain(`:${port}/readyz`);
    expect(app.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      redis: { condition: "service_healthy" },
    });
  });

  it("matches the app's defaults for local development against its published services", () => {
    const defaults = loadConfig({});
    const local = new URL(defaults.DATABASE_URL);
    expect(decodeURIComponent(local.password)).toBe(postgres.environment!.POSTGRES_PASSWORD);
    expect(postgres.ports).toContain(`127.0.0.1:${local.port}:5432`);
    expect(redis.ports).toContain(`127.0.0.1:${new URL(defaults.REDIS_URL).port}:6379`);
  });
});

/** The runtime stage of the Dockerfile: its `COPY --from=build` destinations, `ENV` values and made directories. */
function runtimeStage() {
  const dockerfile = read("Dockerfile").replace(/\\\n\s*/g, " ");
  const stage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const workdir = /^WORKDIR (\S+)$/m.exec(stage)![1];
  const inImage = (p: string) => path.posix.resolve(workdir, p);
  const copies = [...stage.matchAll(/^COPY --from=build (\S+) (\S+)$/gm)].map((m) => ({
    from: path.posix.relative("/app", m[1]),
    to: inImage(m[2]),
  }));
  const env: Record<string, string> = {};
  for (const line of stage.match(/^ENV .*$/gm) ?? [])
    for (const m of line.slice(4).matchAll(/([A-Z][A-Z0-9_]*)=(\S+)/g)) env[m[1]] = m[2];
  const made = [...stage.matchAll(/mkdir -p (\S+)/g)].map((m) => m[1]);
  return { workdir, copies, env, made };
}

/**
 * Every file or folder the built server reads from disk at run time, relative to the repository root (the
 * image's WORKDIR): the config's path defaults, package.json (serverInfo.version) and the built migrations.
 */
function runtimePaths(): Record<string, string> {
  const defaults = loadConfig({}) as unknown as Record<string, unknown>;
  const paths: Record<string, string> = {
    "package.json (serverInfo.version)": "package.json",
    // db.ts: MIGRATIONS_DIR is three levels above server/dist/server/src/infra/db.js.
    "migrations (built)": path.posix.join("server/dist/server/src/infra", "../../../migrations"),
  };
  for (const key of CONFIG_KEYS.filter((k) => /_(DIR|FILE)$/.test(k))) {
    const value = defaults[key];
    if (typeof value === "string" && value.startsWith(REPO_ROOT + path.sep))
      paths[key] = path.relative(REPO_ROOT, value).split(path.sep).join("/");
  }
  return paths;
}

describe("Dockerfile", () => {
  const { workdir, copies, env, made } = runtimeStage();
  const covered = (file: string) => copies.some((c) => file === c.to || file.startsWith(c.to + "/"));

  it("puts in the image every file the server reads at run time, or points the variable elsewhere", () => {
    expect(workdir).toBe("/app");
    const paths = runtimePaths();
    // The variables this test is about are all found (a rename must not make it pass vacuously).
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining(["STUDIO_DIR", "PERSISTED_DOCUMENTS_FILE", "DATA_DIR", "migrations (built)"]),
    );
    const missing = Object.entries(paths).filter(([key, relative]) => {
      const target = env[key] ?? path.posix.join(workdir, relative);
      return !covered(target) && !made.includes(target);
    });
    expect(missing).toEqual([]);
  });

  it("copies from the build stage only what the build stage has", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim().replace(/^\*\*\//, ""))
      .filter(Boolean);
    // `npm ci` and `npm run build` make these in the build stage; everything else comes from `COPY . .`.
    const built = ["node_modules", "server/dist", "client/build"];
    for (const { from } of copies) {
      if (built.some((b) => from === b || from.startsWith(b + "/"))) continue;
      expect(fs.existsSync(path.join(REPO_ROOT, from)), from).toBe(true);
      expect(
        ignored.filter((i) => from === i || from.startsWith(i + "/") || path.posix.basename(from) === i),
        from,
      ).toEqual([]);
    }
  });
});

describe("TypeScript configuration", () => {
  it("makes both workspaces extend the shared strict base", () => {
    for (const workspace of ["server", "client"]) {
      const config = JSON.parse(read(`${workspace}/tsconfig.json`)) as { extends?: string | string[] };
      expect([config.extends].flat(), workspace).toContain("../tsconfig.json");
    }
  });
});

/** The text of one `## Title` section of the README. */
function section(title: string): string {
  const readme = read("README.md");
  const start = readme.indexOf(`## ${title}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe("documentation of the configuration", () => {
  it("lists every variable in README.md's table and in .env.example, and nothing else", () => {
    const table = [...section("Configuration").matchAll(/^\| `([A-Z][A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]).sort();
    expect(table).toEqual(CONFIG_KEYS);
    const example = [...read(".env.example").matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(example).toEqual(CONFIG_KEYS);
  });

  it("lists every public error code", () => {
    const table = [...section("Errors").matchAll(/^\| `([A-Z][A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
    for (const code of ERROR_CODES) expect(table).toContain(code);
  });

  it("documents every root npm script", () => {
    const scripts = Object.keys((JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts);
    const readme = read("README.md");
    expect(scripts.filter((s) => !readme.includes(`npm run ${s}`) && !readme.includes(`npm ${s}`))).toEqual([]);
  });
});
