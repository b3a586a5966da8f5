// @gpubms/client: the TypeScript client of gpubms over gRPC (HTTP/2).
//
//   const c = createClient("http://127.0.0.1:9090", { token });
//   const { regions } = await c.gpu.describeGpuRegions({});
//   const { taskId } = await c.gpu.createGpuInstance({ /* ... */ });
//   for await (const ev of waitTask(c, taskId)) console.log(ev.rawStatus);
//   c.close();
//
// Errors are ConnectErrors: branch on err.code (Code.InvalidArgument, ...),
// read err.rawMessage, and decode details with err.findDetails(Schema), e.g.
// ViolationsSchema (buf.validate) for a refused request.

import {
  Code,
  ConnectError,
  createClient as createConnectClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampNow } from "@bufbuild/protobuf/wkt";
import type { SecureClientSessionOptions } from "node:http2";

import {
  GpuService,
  TaskEventSchema,
  TaskStatus,
  type DescribeGpuTaskResponse,
  type TaskEvent,
} from "./gen/gpubms/v1/gpubms_pb.js";
import { NetworkService } from "./gen/gpubms/v1/network_pb.js";
import { FleetService } from "./gen/gpubms/v1/fleet_pb.js";

export * from "./gen/gpubms/v1/gpubms_pb.js";
export * from "./gen/gpubms/v1/network_pb.js";
export * from "./gen/gpubms/v1/fleet_pb.js";
export * from "./gen/gpubms/v1/access_pb.js";
export { ViolationsSchema, ViolationSchema, type Violations, type Violation } from "./gen/buf/validate/validate_pb.js";
export { Code, ConnectError };
export type { Client, Interceptor, Transport };

/** The generated GpuService client. */
export type GpuClient = Client<typeof GpuService>;
/** The generated NetworkService client. */
export type NetworkClient = Client<typeof NetworkService>;
/** The generated FleetService client. */
export type FleetClient = Client<typeof FleetService>;

/** What createClient returns: one client per service over one HTTP/2 connection. */
export interface GpubmsClient {
  readonly gpu: GpuClient;
  readonly network: NetworkClient;
  readonly fleet: FleetClient;
  /** The gRPC transport the clients share, for createClient(Service, transport) of your own. */
  readonly transport: Transport;
  /** Closes the connection; calls in flight fail. Idle connections do not keep the process alive anyway. */
  close(): void;
}

/** TLS settings, passed to node:http2's connect (PEM strings or Buffers). */
export type TlsOptions = Pick<SecureClientSessionOptions, "ca" | "cert" | "key" | "servername" | "rejectUnauthorized">;

export interface ClientOptions {
  /** Bearer token: every call carries `authorization: Bearer <token>`. */
  token?: string;
  /**
   * TLS: true (the system roots), or a CA, client certificate and key, server name.
   * false forces plaintext for an address without a scheme. An http:// address is
   * always plaintext, so it cannot be combined with TLS options.
   */
  tls?: boolean | TlsOptions;
  /** More interceptors, run after the one that adds the token. */
  interceptors?: Interceptor[];
  /** Default timeout of every call in milliseconds (none by default; WatchTask streams last as long as the task). */
  defaultTimeoutMs?: number;
}

/**
 * createClient connects to gpubms at addr: "http://host:port" (plaintext),
 * "https://host:port" (TLS), or "host:port", plaintext on loopback and TLS
 * elsewhere (as gpubmsctl does; `tls: false` says plaintext anyway).
 */
export function createClient(addr: string, options: ClientOptions = {}): GpubmsClient {
  const baseUrl = baseUrlOf(addr, options.tls);
  const interceptors: Interceptor[] = [];
  if (options.token !== undefined) {
    interceptors.push(bearer(options.token));
  }
  interceptors.push(...(options.interceptors ?? []));
  const nodeOptions: SecureClientSessionOptions = typeof options.tls === "object" ? { ...options.tls } : {};
  const sessionManager = new Http2SessionManager(baseUrl, {}, nodeOptions);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager,
    interceptors,
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  });
  return {
    gpu: createConnectClient(GpuService, transport),
    network: createConnectClient(NetworkService, transport),
    fleet: createConnectClient(FleetService, transport),
    transport,
    close: () => sessionManager.abort(),
  };
}

function baseUrlOf(addr: string, tls: ClientOptions["tls"]): string {
  const wantsTls = tls === true || typeof tls === "object";
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(addr);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme !== "http" && scheme !== "https") {
      throw new TypeError(`gpubms: address ${addr}: scheme must be http or https`);
    }
    if (scheme === "http" && wantsTls) {
      throw new TypeError(`gpubms: address ${addr} is plaintext (http://) but TLS options were given: use https://`);
    }
    if (scheme === "https" && tls === false) {
      throw new TypeError(`gpubms: address ${addr} is TLS (https://) but tls is false: use http://`);
    }
    return new URL(addr).origin;
  }
  const url = new URL(`http://${addr}`); // validates host:port
  if (url.pathname !== "/" || url.search || url.username) {
    throw new TypeError(`gpubms: address ${addr}: want host:port or a URL`);
  }
  const plain = tls === false || (!wantsTls && isLoopback(url.hostname));
  return `${plain ? "http" : "https"}://${url.host}`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function bearer(token: string): Interceptor {
  if (token === "" || /[\s]/.test(token)) {
    throw new TypeError("gpubms: token must be non-empty and without whitespace");
  }
  const value = `Bearer ${token}`;
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

// ---------------------------------------------------------------------------
// Waiting for tasks

/** What waitTask needs of a client: WatchTask, and DescribeGpuTask for servers without watching. */
export type TaskClient = Pick<GpuClient, "watchTask" | "describeGpuTask">;

export interface WaitTaskOptions {
  /** Ends the wait: the iterator throws Code.Canceled, or Code.DeadlineExceeded for AbortSignal.timeout(). */
  signal?: AbortSignal;
  /**
   * How many attempts in a row may fail with Code.Unavailable (a server restarting,
   * a stream cut) before giving up (default 10; values below 1 mean 1). A stream that delivered an event
   * resets the count, so a long task survives any number of separate restarts.
   */
  maxAttempts?: number;
  /** Pause before the first re-attach (default 200 ms); it doubles, jittered, up to backoffMaxMs. */
  backoffInitialMs?: number;
  /** Longest pause between attempts (default 10 s). */
  backoffMaxMs?: number;
  /** How often DescribeGpuTask is asked when the server answers WatchTask with Unimplemented (default 5 s). */
  pollIntervalMs?: number;
}

interface Settings {
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  pollIntervalMs: number;
}

// settings fills in the defaults; durations that are not positive numbers keep them.
function settings(o: WaitTaskOptions): Settings {
  const pick = (v: number | undefined, d: number) => (v !== undefined && Number.isFinite(v) && v > 0 ? v : d);
  const backoffInitialMs = pick(o.backoffInitialMs, 200);
  return {
    maxAttempts: o.maxAttempts !== undefined && Number.isFinite(o.maxAttempts) ? Math.max(1, Math.floor(o.maxAttempts)) : 10,
    backoffInitialMs,
    backoffMaxMs: Math.max(pick(o.backoffMaxMs, 10_000), backoffInitialMs),
    pollIntervalMs: pick(o.pollIntervalMs, 5_000),
  };
}

/** A task that ended with the provider status "failed" (thrown by waitTaskDone). */
export class TaskFailedError extends Error {
  override readonly name = "TaskFailedError";
  constructor(
    readonly taskId: string,
    /** The terminal event, with the resources the task worked on. */
    readonly event: TaskEvent,
  ) {
    const ids = event.resourceIds.length > 0 ? ` (resources ${event.resourceIds.join(", ")})` : "";
    super(`gpubms: task ${taskId} failed${ids}`);
  }
}

/** isTerminal reports whether a task status is final: SUCCEED or FAILED. */
export function isTerminal(status: TaskStatus): boolean {
  return status === TaskStatus.SUCCEED || status === TaskStatus.FAILED;
}

/**
 * waitTask follows a task through the WatchTask stream and yields every event in
 * order: the current status first, each change, heartbeats (event.heartbeat), and
 * the terminal event (status SUCCEED or FAILED), after which it ends.
 *
 * When the stream breaks with Code.Unavailable (the server restarting, a stream
 * cut), or ends before a terminal status, it attaches again, which is always safe,
 * after a capped, jittered backoff, at most maxAttempts times in a row. A server
 * answering Code.Unimplemented is polled with DescribeGpuTask instead. Any other
 * error (Code.NotFound for an unknown task, ...) is thrown at once as a
 * ConnectError with its code and details, the task named in its message.
 *
 * Breaking out of the loop closes the stream. A FAILED task is not an error here:
 * look at the last event's status, or use waitTaskDone.
 */
export async function* waitTask(
  client: GpubmsClient | TaskClient,
  taskId: string,
  options: WaitTaskOptions = {},
): AsyncGenerator<TaskEvent, void, undefined> {
  const gpu: TaskClient = "gpu" in client ? client.gpu : client;
  if (taskId === "") {
    throw new ConnectError("gpubms: wait for task: empty task id", Code.InvalidArgument);
  }
  const o = settings(options);
  const signal = options.signal;
  const what = `task ${taskId}`;
  let last: TaskEvent | undefined;
  let failures = 0;
  for (;;) {
    checkSignal(signal, what);
    let progressed = false;
    let err: ConnectError | undefined;
    const stream = new AbortController();
    const unlink = link(signal, stream);
    try {
      for await (const res of gpu.watchTask({ taskId }, { signal: stream.signal })) {
        const ev = res.event;
        if (ev === undefined || (ev.taskId !== "" && ev.taskId !== taskId)) {
          continue;
        }
        progressed = true;
        last = ev;
        yield ev;
        if (isTerminal(ev.status)) {
          return;
        }
      }
    } catch (e) {
      err = ConnectError.from(e);
    } finally {
      unlink();
      stream.abort(); // no stream outlives its attempt, nor a caller that stopped reading
    }
    checkSignal(signal, what);
    err ??= new ConnectError("stream ended before a terminal status", Code.Unavailable);
    if (err.code === Code.Unimplemented) {
      yield* poll(gpu, taskId, o, signal, last);
      return;
    }
    if (err.code !== Code.Unavailable) {
      throw annotate(err, `gpubms: watch ${what}`);
    }
    if (progressed) {
      failures = 0;
    }
    failures++;
    if (failures >= o.maxAttempts) {
      throw annotate(err, `gpubms: watch ${what}: gave up after ${failures} attempts`);
    }
    await sleep(backoff(failures, o.backoffInitialMs, o.backoffMaxMs), signal, what);
  }
}

/**
 * waitTaskDone waits for the task to end and returns its terminal event; a task
 * that ends FAILED rejects with a TaskFailedError. onEvent sees every event.
 */
export async function waitTaskDone(
  client: GpubmsClient | TaskClient,
  taskId: string,
  options: WaitTaskOptions & { onEvent?: (ev: TaskEvent) => void } = {},
): Promise<TaskEvent> {
  let last: TaskEvent | undefined;
  for await (const ev of waitTask(client, taskId, options)) {
    last = ev;
    options.onEvent?.(ev);
  }
  if (last === undefined) {
    // waitTask only ends normally after a terminal event.
    throw new ConnectError(`gpubms: wait for task ${taskId}: no event`, Code.Internal);
  }
  if (last.status === TaskStatus.FAILED) {
    throw new TaskFailedError(taskId, last);
  }
  return last;
}

// poll asks DescribeGpuTask every pollIntervalMs, yielding an event whenever the
// status or the resources change, until the task is terminal.
async function* poll(
  gpu: TaskClient,
  taskId: string,
  o: Settings,
  signal: AbortSignal | undefined,
  last: TaskEvent | undefined,
): AsyncGenerator<TaskEvent, void, undefined> {
  const what = `task ${taskId}`;
  const start = Date.now();
  let failures = 0;
  for (;;) {
    let delay = o.pollIntervalMs;
    let ev: TaskEvent | undefined;
    try {
      const res = await gpu.describeGpuTask({ taskId }, signal ? { signal } : {});
      ev = eventFromTask(taskId, res, Date.now() - start);
      failures = 0;
    } catch (e) {
      checkSignal(signal, what);
      const err = ConnectError.from(e);
      if (err.code !== Code.Unavailable) {
        throw annotate(err, `gpubms: describe ${what}`);
      }
      failures++;
      if (failures >= o.maxAttempts) {
        throw annotate(err, `gpubms: describe ${what}: gave up after ${failures} attempts`);
      }
      delay = backoff(failures, o.backoffInitialMs, o.backoffMaxMs);
    }
    if (ev !== undefined && changed(last, ev)) {
      last = ev;
      yield ev;
    }
    if (ev !== undefined && isTerminal(ev.status)) {
      return;
    }
    await sleep(delay, signal, what);
  }
}

function eventFromTask(taskId: string, r: DescribeGpuTaskResponse, watchedMs: number): TaskEvent {
  let status = r.taskStatus;
  if (status === TaskStatus.UNSPECIFIED) {
    status = { init: TaskStatus.INIT, succeed: TaskStatus.SUCCEED, failed: TaskStatus.FAILED }[r.status] ?? status;
  }
  return create(TaskEventSchema, {
    taskId,
    status,
    rawStatus: r.status,
    resourceIds: [...r.resourceIds],
    observedAt: timestampNow(),
    watchedFor: durationFromMs(watchedMs),
  });
}

function changed(prev: TaskEvent | undefined, ev: TaskEvent): boolean {
  return (
    prev === undefined ||
    prev.status !== ev.status ||
    prev.rawStatus !== ev.rawStatus ||
    prev.resourceIds.length !== ev.resourceIds.length ||
    prev.resourceIds.some((id, i) => id !== ev.resourceIds[i])
  );
}

// backoff is the pause before attempt n+1: initial·2^(n-1) capped at max, then
// jittered down by up to half, so clients that lost the same server do not
// return in lockstep.
function backoff(n: number, initialMs: number, maxMs: number): number {
  const d = Math.min(initialMs * 2 ** Math.min(n - 1, 30), maxMs);
  return d / 2 + Math.random() * (d / 2);
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal, what));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!, what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// link aborts ctl when signal aborts, until the returned function is called.
function link(signal: AbortSignal | undefined, ctl: AbortController): () => void {
  if (signal === undefined) {
    return () => {};
  }
  if (signal.aborted) {
    ctl.abort(signal.reason);
    return () => {};
  }
  const onAbort = () => ctl.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw abortError(signal, what);
  }
}

// abortError is the caller's signal ending a wait: Code.DeadlineExceeded for a
// timeout (AbortSignal.timeout), Code.Canceled otherwise, the reason as cause.
function abortError(signal: AbortSignal, what: string): ConnectError {
  const reason: unknown = signal.reason;
  const name = reason instanceof Error ? reason.name : "";
  const code = name === "TimeoutError" ? Code.DeadlineExceeded : Code.Canceled;
  const msg = reason instanceof Error ? reason.message : String(reason ?? "aborted");
  return new ConnectError(`gpubms: wait for ${what}: ${msg}`, code, undefined, undefined, reason);
}

// annotate prefixes a ConnectError's message, keeping its code, metadata and
// details, so callers can still branch on err.code and call findDetails.
function annotate(err: ConnectError, prefix: string): ConnectError {
  const e = new ConnectError(`${prefix}: ${err.rawMessage}`, err.code, err.metadata, undefined, err);
  e.details = err.details;
  return e;
}
