// The client against a real gpubmsd on its embedded emulator: regions, goods,
// a refused request, networks, a create followed to its end with waitTask,
// the list, and a delete.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";

import {
  Code,
  ConnectError,
  TaskStatus,
  ViolationsSchema,
  createClient,
  waitTask,
  type GpubmsClient,
  type TaskEvent,
} from "../src/index.js";
import { buildServer, startServer, type Server } from "./server.js";

const token = randomBytes(24).toString("base64url");
const region = "CN_Hohhot_B";

async function rejects(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `want a ConnectError, got ${String(e)}`);
    return e;
  }
  assert.fail("want an error");
}

// Deadlines of single calls; the whole suite is bounded by its timeout.
const call = () => ({ timeoutMs: 10_000 });

describe("gpubmsd on the emulator", { timeout: 6 * 60_000 }, () => {
  let server: Server | undefined;
  let cleanup = () => {};
  let c: GpubmsClient;

  // Filled in as the tests go, in order.
  let goodsId = 0n;
  let computeId = "";
  let imageId = "";
  let vpcId = "";
  let netId = "";
  let taskId = "";
  let resourceIds: string[] = [];
  const instanceName = `ts-e2e-${randomBytes(3).toString("hex")}`;

  before(async () => {
    const built = await buildServer();
    cleanup = built.cleanup;
    server = await startServer(built.bin, {
      GPUBMS_AUTH_TOKEN: token,
      GPUBMS_EMULATOR_TASK_DELAY: "300ms",
      GPUBMS_WATCH_POLL_INTERVAL: "100ms",
    });
    c = createClient(server.grpcUrl, { token });
  });

  after(async () => {
    c?.close();
    await server?.stop();
    cleanup();
  });

  it("refuses a call without the token (the interceptor sends it otherwise)", async () => {
    const anon = createClient(server!.grpcUrl);
    try {
      const err = await rejects(anon.gpu.describeGpuRegions({}, call()));
      assert.equal(err.code, Code.Unauthenticated);
      const wrong = createClient(server!.grpcUrl, { token: "x".repeat(32) });
      assert.equal((await rejects(wrong.gpu.describeGpuRegions({}, call()))).code, Code.Unauthenticated);
      wrong.close();
    } finally {
      anon.close();
    }
  });

  it("DescribeGpuRegions", async () => {
    const { regions } = await c.gpu.describeGpuRegions({}, call());
    assert.ok(regions.length > 0);
    assert.ok(
      regions.some((r) => r.regionId === region && r.regionName !== ""),
      `${region} in ${regions.map((r) => r.regionId).join(", ")}`,
    );
    // A bare loopback host:port is plaintext too.
    const bare = createClient(server!.grpcUrl.replace(/^http:\/\//, ""), { token });
    try {
      assert.equal((await bare.gpu.describeGpuRegions({}, call())).regions.length, regions.length);
    } finally {
      bare.close();
    }
  });

  it("DescribeGpuGoods for a region", async () => {
    const goods = await c.gpu.describeGpuGoods({ regionId: region }, call());
    assert.ok(goods.postPaid.length > 0, "post-paid goods");
    const g = goods.postPaid.find((g) => g.computes.some((x) => x.purchaseNum >= 2));
    assert.ok(g, "goods with stock for two servers");
    assert.equal(typeof g.goodsId, "bigint");
    goodsId = g.goodsId;
    computeId = g.computes.find((x) => x.purchaseNum >= 2)!.id;

    const images = await c.gpu.describeGpuImage({ regionId: region, imageType: "public", computeId }, call());
    const image = images.families.flatMap((f) => f.images)[0];
    assert.ok(image, "a public image");
    imageId = image.id;
  });

  it("an invalid request fails with InvalidArgument naming the field", async () => {
    const err = await rejects(
      c.gpu.describeGpuGoodsPrice(
        { regionId: region, goodsId, computeId, instanceChargeType: "PrePaid", amount: 0 },
        call(),
      ),
    );
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, /\bamount\b/);
    const violations = err.findDetails(ViolationsSchema).flatMap((v) => v.violations);
    assert.ok(
      violations.some((v) => v.field?.elements.map((e) => e.fieldName).join(".") === "amount"),
      JSON.stringify(violations.map((v) => v.field?.elements.map((e) => e.fieldName))),
    );

    const bad = await rejects(c.gpu.describeGpuGoods({ regionId: "no/such:region" }, call()));
    assert.equal(bad.code, Code.InvalidArgument);
    assert.match(bad.rawMessage, /\bregion_id\b/);
  });

  it("FindNetworks gives the VPC and subnet ids", async () => {
    const nets = await c.network.findNetworks({ regionId: region }, call());
    assert.equal(nets.regionId, region);
    const choice = nets.vpcs.find((v) => v.vpc && v.subnets.length > 0);
    assert.ok(choice?.vpc, "a VPC with a subnet");
    vpcId = choice.vpc.vpcId;
    netId = choice.subnets[0]!.subnetId;
    assert.notEqual(vpcId, "");
    assert.notEqual(netId, "");
  });

  it("CreateGpuInstance, then waitTask to success", async () => {
    const res = await c.gpu.createGpuInstance(
      {
        regionId: region,
        goodsId,
        computeId,
        imageId,
        instanceChargeType: "PostPaid",
        instanceName,
        password: "Example-passw0rd",
        amount: 2,
        raid: 0,
        vpcNetwork: { vpcId, netId },
        requestId: randomUUID(),
      },
      call(),
    );
    assert.notEqual(res.taskId, "");
    taskId = res.taskId;

    const events: TaskEvent[] = [];
    for await (const ev of waitTask(c, taskId, { signal: AbortSignal.timeout(30_000) })) {
      events.push(ev);
    }
    const last = events.at(-1);
    assert.ok(last);
    assert.equal(last.status, TaskStatus.SUCCEED, JSON.stringify(events.map((e) => e.rawStatus)));
    assert.equal(last.rawStatus, "succeed");
    assert.equal(last.taskId, taskId);
    assert.equal(last.resourceIds.length, 2);
    assert.ok(events.slice(0, -1).every((e) => e.status === TaskStatus.INIT), "only init before the end");
    resourceIds = [...last.resourceIds].sort();

    // A finished task watched again ends at once with its terminal event.
    const again: TaskEvent[] = [];
    for await (const ev of waitTask(c.gpu, taskId, { signal: AbortSignal.timeout(10_000) })) again.push(ev);
    assert.deepEqual(
      again.map((e) => e.status),
      [TaskStatus.SUCCEED],
    );
  });

  it("waitTask of an unknown task fails with NotFound", async () => {
    const err = await rejects(
      (async () => {
        for await (const _ of waitTask(c, "no-such-task", { signal: AbortSignal.timeout(10_000) })) {
          // no event expected
        }
      })(),
    );
    assert.equal(err.code, Code.NotFound);
    assert.match(err.rawMessage, /no-such-task/);
  });

  it("DescribeGpu lists the new servers", async () => {
    const list = await c.gpu.describeGpu({ name: instanceName, pageSize: 10 }, call());
    const ids = list.records.map((r) => r.resourceId).sort();
    assert.deepEqual(ids, resourceIds);
    for (const r of list.records) {
      assert.equal(r.regionId, region);
      assert.equal(r.state, "running");
      assert.ok(r.name.startsWith(instanceName), r.name);
    }
    const detail = await c.gpu.describeGpuDetail({ resourceId: resourceIds[0]! }, call());
    assert.equal(detail.resourceId, resourceIds[0]);
  });

  it("DeleteGpuInstances removes them", async () => {
    await c.gpu.deleteGpuInstances({ resourceIds, requestId: randomUUID() }, call());
    let left = resourceIds;
    for (const deadline = Date.now() + 20_000; left.length > 0 && Date.now() < deadline; ) {
      const list = await c.gpu.describeGpu({ name: instanceName, pageSize: 10 }, call());
      left = list.records.filter((r) => r.state !== "deleted").map((r) => r.resourceId);
      for (const r of list.records) assert.ok(["deleting", "deleted"].includes(r.state), `state ${r.state}`);
      if (left.length > 0) await delay(100);
    }
    assert.deepEqual(left, [], "servers still listed after the delete");
  });
});
