// npm run generate: rewrites src/gen/ from ../../proto with the buf CLI and
// protoc-gen-es from node_modules (buf.gen.yaml). The protos that proto/
// imports (buf/validate, google/api, openapiv2 options) are found through the
// repository's buf.yaml in third_party/proto, which `make third_party` copies
// from Go modules; when it is missing, this runs that first.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url))); // clients/ts
const root = join(here, "..", "..");

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.error) {
    console.error(`generate: ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`generate: ${cmd} ${args.join(" ")} failed (${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

if (!existsSync(join(root, "third_party", "proto", "buf", "validate", "validate.proto"))) {
  console.error("generate: third_party/proto is missing: running make third_party (needs go)");
  run("make", ["-C", root, "third_party"], root);
}
// npm puts node_modules/.bin on PATH: buf, and protoc-gen-es for buf.gen.yaml.
run("buf", ["generate"], here);
