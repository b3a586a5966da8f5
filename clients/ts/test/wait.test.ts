// waitTask against an in-memory GpuService (connect's router transport): the
// re-attach, give-up, polling and cancellation paths a real server rarely shows.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";

import { createClient as createConnectClient, createRouterTransport, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";

import {
  Code,
  ConnectError,
  GpuService,
  TaskFailedError,
  TaskStatus,
  ViolationsSchema,
  createClient,
  waitTask,
  waitTaskDone,
  type TaskEvent,
  type WatchTaskResponseSchema,
  type DescribeGpuTaskResponseSchema,
} from "../src/index.js";

type Res = MessageInitShape<typeof WatchTaskResponseSchema>;
type Attempt = (ctx: HandlerContext) => AsyncIterable<Res>;

const fast = { backoffInitialMs: 1, backoffMaxMs: 5 };
const ev = (status: TaskStatus, raw: string, extra: { resourceIds?: string[] } = {}): Res => ({
  event: { taskId: "t1", status, rawStatus: raw, ...extra },
});
const init = ev(TaskStatus.INIT, "init");
const succeed = ev(TaskStatus.SUCCEED, "succeed", { resourceIds: ["r1", "r2"] });
const failed = ev(TaskStatus.FAILED, "failed", { resourceIds: ["r1"] });
const unavailable = () => new ConnectError("server shutting down", Code.Unavailable);

// fake serves WatchTask from a script of attempts (the last repeats) and counts them.
function fake(attempts: Attempt[], describe?: () => MessageInitShape<typeof DescribeGpuTaskResponseSchema>) {
  const calls = { watch: 0, describe: 0, closed: 0 };
  const transport = createRouterTransport((router) => {
    router.service(GpuService, {
      ...(attempts.length > 0
        ? {
            watchTask(req, ctx) {
              assert.equal(req.taskId, "t1");
              ctx.signal.addEventListener("abort", () => calls.closed++, { once: true });
              const a = attempts[Math.min(calls.watch, attempts.length - 1)]!;
              calls.watch++;
              return a(ctx);
            },
          }
        : {}),
      ...(describe
        ? {
            describeGpuTask() {
              calls.describe++;
              return describe();
            },
          }
        : {}),
    });
  });
  return { client: createConnectClient(GpuService, transport), calls };
}

async function collect(it: AsyncIterable<TaskEvent>): Promise<TaskStatus[]> {
  const out: TaskStatus[] = [];
  for await (const e of it) out.push(e.status);
  return out;
}

async function rejects(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `want a ConnectError, got ${String(e)}`);
    return e;
  }
  assert.fail("want an error");
}

// hang yields its events, then waits until the call ends.
function hang(...events: Res[]): Attempt {
  return async function* (ctx) {
    yield* events;
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  };
}

describe("waitTask", { timeout: 20_000 }, () => {
  it("re-attaches after Unavailable and ends after the terminal event", async () => {
    const { client, calls } = fake([
      async function* () {
        yield init;
        throw unavailable();
      },
      async function* () {
        yield init;
        yield succeed;
      },
    ]);
    const events: TaskEvent[] = [];
    for await (const e of waitTask(client, "t1", fast)) events.push(e);
    assert.deepEqual(
      events.map((e) => e.status),
      [TaskStatus.INIT, TaskStatus.INIT, TaskStatus.SUCCEED],
    );
    assert.deepEqual(events.at(-1)?.resourceIds, ["r1", "r2"]);
    assert.equal(calls.watch, 2);
  });

  it("re-attaches when a stream ends before a terminal status", async () => {
    const { client, calls } = fake([
      async function* () {
        yield init;
      },
      async function* () {
        yield succeed;
      },
    ]);
    assert.deepEqual(await collect(waitTask(client, "t1", fast)), [TaskStatus.INIT, TaskStatus.SUCCEED]);
    assert.equal(calls.watch, 2);
  });

  it("gives up after maxAttempts Unavailable in a row", async () => {
    const { client, calls } = fake([
      // eslint-disable-next-line require-yield
      async function* () {
        throw unavailable();
      },
    ]);
    const err = await rejects(collect(waitTask(client, "t1", { ...fast, maxAttempts: 3 })));
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /watch task t1: gave up after 3 attempts: server shutting down/);
    assert.equal(calls.watch, 3);
  });

  it("counts only attempts in a row: a stream with an event resets the count", async () => {
    const flaky: Attempt = async function* () {
      yield init;
      throw unavailable();
    };
    const { client, calls } = fake([
      flaky,
      flaky,
      flaky,
      flaky,
      async function* () {
        yield succeed;
      },
    ]);
    const got = await collect(waitTask(client, "t1", { ...fast, maxAttempts: 2 }));
    assert.equal(got.at(-1), TaskStatus.SUCCEED);
    assert.equal(calls.watch, 5);
  });

  it("throws other codes at once, keeping code and details", async () => {
    const { client, calls } = fake([
      // eslint-disable-next-line require-yield
      async function* () {
        throw new ConnectError("task t1 not found", Code.NotFound, undefined, [
          { desc: ViolationsSchema, value: { violations: [{ message: "a detail" }] } },
        ]);
      },
    ]);
    const err = await rejects(collect(waitTask(client, "t1", fast)));
    assert.equal(err.code, Code.NotFound);
    assert.match(err.rawMessage, /^gpubms: watch task t1: task t1 not found$/);
    assert.equal(err.findDetails(ViolationsSchema)[0]?.violations[0]?.message, "a detail");
    assert.equal(calls.watch, 1);
  });

  it("yields a FAILED terminal event and ends; waitTaskDone rejects with TaskFailedError", async () => {
    const { client } = fake([
      async function* () {
        yield init;
        yield failed;
      },
    ]);
    assert.deepEqual(await collect(waitTask(client, "t1", fast)), [TaskStatus.INIT, TaskStatus.FAILED]);
    const seen: string[] = [];
    await assert.rejects(
      waitTaskDone(client, "t1", { ...fast, onEvent: (e) => seen.push(e.rawStatus) }),
      (e: unknown) => e instanceof TaskFailedError && e.taskId === "t1" && /task t1 failed \(resources r1\)/.test(e.message),
    );
    assert.deepEqual(seen, ["init", "failed"]);
  });

  it("waitTaskDone returns the terminal event", async () => {
    const { client } = fake([
      async function* () {
        yield init;
        yield succeed;
      },
    ]);
    const last = await waitTaskDone(client, "t1", fast);
    assert.equal(last.status, TaskStatus.SUCCEED);
    assert.deepEqual(last.resourceIds, ["r1", "r2"]);
  });

  it("polls DescribeGpuTask when WatchTask is Unimplemented, yielding changes only", async () => {
    const replies = [
      { status: "init", taskStatus: TaskStatus.INIT },
      { status: "init", taskStatus: TaskStatus.INIT },
      { status: "succeed", resourceIds: ["r9"] }, // enum left unset: read from the raw status
    ];
    let n = 0;
    const { client, calls } = fake([], () => replies[Math.min(n++, replies.length - 1)]!);
    const events: TaskEvent[] = [];
    for await (const e of waitTask(client, "t1", { ...fast, pollIntervalMs: 5 })) events.push(e);
    assert.deepEqual(
      events.map((e) => [e.status, e.rawStatus]),
      [
        [TaskStatus.INIT, "init"],
        [TaskStatus.SUCCEED, "succeed"],
      ],
    );
    assert.deepEqual(events[1]?.resourceIds, ["r9"]);
    assert.equal(events[1]?.taskId, "t1");
    assert.equal(calls.describe, 3);
  });

  it("ends with DeadlineExceeded when an AbortSignal.timeout fires mid-stream, closing the stream", async () => {
    const { client, calls } = fake([hang(init)]);
    const start = Date.now();
    // AbortSignal.timeout's timer does not keep the process alive, and nothing
    // else does in memory (a real stream's socket would).
    const keepAlive = setInterval(() => {}, 1_000);
    const err = await rejects(collect(waitTask(client, "t1", { ...fast, signal: AbortSignal.timeout(100) }))).finally(() =>
      clearInterval(keepAlive),
    );
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.match(err.rawMessage, /wait for task t1/);
    assert.ok(Date.now() - start < 5_000);
    assert.equal(calls.watch, 1);
    for (let i = 0; i < 100 && calls.closed === 0; i++) await delay(10);
    assert.equal(calls.closed, 1, "the stream was closed");
  });

  it("ends with Canceled when the signal aborts during a backoff", async () => {
    const { client, calls } = fake([
      // eslint-disable-next-line require-yield
      async function* () {
        throw unavailable();
      },
    ]);
    const ctl = new AbortController();
    const p = collect(waitTask(client, "t1", { backoffInitialMs: 60_000, signal: ctl.signal }));
    await delay(50);
    ctl.abort();
    const err = await rejects(p);
    assert.equal(err.code, Code.Canceled);
    assert.equal(calls.watch, 1);
  });

  it("closes the stream when the caller stops reading", async () => {
    const { client, calls } = fake([hang(init)]);
    for await (const e of waitTask(client, "t1", fast)) {
      assert.equal(e.status, TaskStatus.INIT);
      break;
    }
    for (let i = 0; i < 100 && calls.closed === 0; i++) await delay(10);
    assert.equal(calls.closed, 1);
  });

  it("refuses an empty task id", async () => {
    const { client, calls } = fake([hang()]);
    const err = await rejects(collect(waitTask(client, "", fast)));
    assert.equal(err.code, Code.InvalidArgument);
    assert.equal(calls.watch, 0);
  });
});

describe("createClient", () => {
  it("refuses TLS options with an http:// address, and other schemes", () => {
    assert.throws(() => createClient("http://127.0.0.1:9090", { tls: true }), /plaintext/);
    assert.throws(() => createClient("https://127.0.0.1:9090", { tls: false }), /tls is false/);
    assert.throws(() => createClient("ftp://127.0.0.1:9090"), /scheme/);
    assert.throws(() => createClient("127.0.0.1:9090/path"), /host:port/);
    assert.throws(() => createClient("127.0.0.1:9090", { token: "has space" }), /token/);
  });

  it("takes URLs and bare addresses", () => {
    for (const addr of ["http://127.0.0.1:9090", "https://gpubms.example:443", "localhost:9090", "[::1]:9090", "gpubms.example:443"]) {
      const c = createClient(addr, { token: "0123456789abcdef" });
      assert.equal(typeof c.gpu.describeGpuRegions, "function");
      assert.equal(typeof c.network.findNetworks, "function");
      assert.equal(typeof c.fleet.listAuditEvents, "function");
      c.close();
    }
  });
});
