// A real gpubmsd on its embedded emulator, for the end-to-end tests: built
// once with `go build` (or taken from $GPUBMSD), started on free loopback
// ports, stopped with SIGTERM (SIGKILL if it lingers). Every wait is bounded.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const buildTimeoutMs = 5 * 60_000;
const startTimeoutMs = 30_000;
const stopTimeoutMs = 15_000;

export interface Server {
  /** gRPC address, as a URL: http://127.0.0.1:PORT */
  grpcUrl: string;
  /** HTTP/JSON address, host:port */
  httpAddr: string;
  /** Everything the server logged so far (JSON lines). */
  log(): string;
  stop(): Promise<void>;
}

// repoRoot is the nearest directory above this file holding go.mod.
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, "go.mod")) && existsSync(join(d, "cmd", "gpubmsd"))) return d;
    const up = dirname(d);
    if (up === d) throw new Error("gpubms repository root (go.mod) not found above " + fileURLToPath(import.meta.url));
    d = up;
  }
}

/** buildServer returns $GPUBMSD, or builds ./cmd/gpubmsd into a temporary directory. */
export async function buildServer(): Promise<{ bin: string; cleanup: () => void }> {
  const given = process.env["GPUBMSD"];
  if (given) return { bin: given, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "gpubms-ts-"));
  const bin = join(dir, "gpubmsd");
  await new Promise<void>((resolve, reject) => {
    execFile(
      "go",
      ["build", "-o", bin, "./cmd/gpubmsd"],
      { cwd: repoRoot(), timeout: buildTimeoutMs, killSignal: "SIGKILL" },
      (err, _stdout, stderr) => (err ? reject(new Error(`go build ./cmd/gpubmsd: ${err.message}\n${stderr}`)) : resolve()),
    );
  });
  return { bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** startServer runs bin --emulator on free loopback ports and waits until it serves. */
export async function startServer(bin: string, env: Record<string, string>): Promise<Server> {
  // The caller's own GPUBMS_* settings (a data dir, a provider URL) stay out.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GPUBMS_")));
  const child = spawn(
    bin,
    ["--emulator", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"],
    { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let log = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (log += s));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const serving = new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    let pending = "";
    const timer = setTimeout(() => reject(new Error(`gpubmsd did not serve within ${startTimeoutMs} ms:\n${log}`)), startTimeoutMs);
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      log += s;
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let rec: { msg?: string; grpc?: string; http?: string };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch {
          continue;
        }
        if (rec.msg === "gpubms serving" && rec.grpc && rec.http) {
          clearTimeout(timer);
          resolve({ grpc: rec.grpc, http: rec.http });
        }
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gpubmsd exited (${code ?? signal}) before serving:\n${log}`));
    });
  });

  let addrs: { grpc: string; http: string };
  try {
    addrs = await serving;
  } catch (err) {
    await stop(child, exited);
    process.removeListener("exit", killOnExit);
    throw err;
  }
  return {
    grpcUrl: `http://${addrs.grpc}`,
    httpAddr: addrs.http,
    log: () => log,
    stop: async () => {
      await stop(child, exited);
      process.removeListener("exit", killOnExit);
    },
  };
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), stopTimeoutMs)));
  if (await Promise.race([exited.then(() => false), late])) {
    child.kill("SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}
