// End-to-end checks of the Vargate MCP server with the official TypeScript
// SDK (v1, which speaks the 2025-11-25 protocol). Run by TestNodeClients,
// which starts the gateway and passes everything in the environment:
//
//   MCP_URL            the MCP endpoint
//   AGENT_KEY          an agent key of tenant acme
//   SESSION_KEY        a live session token of acme's agent
//   OTHER_TENANT_KEY   an agent key of tenant globex
//   ENDED_SESSION_KEY  the token of a session that has ended
//   ADMIN_KEY          an admin (human) key of acme
//   EXPECT_TOOLS       the tool names acme's agent must see, comma-separated
//
// It prints one line per check and exits non-zero if any failed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const url = new URL(env("MCP_URL"));
let failures = 0;

function check(name, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : ": " + JSON.stringify(detail)}`);
  if (!ok) failures++;
}

async function connect(token) {
  const client = new Client({ name: "vargate-e2e-ts", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

function text(res) {
  return (res.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function expectHTTPError(name, token, status) {
  try {
    const c = await connect(token);
    await c.listTools();
    check(name, false, "connected");
  } catch (e) {
    const msg = String(e?.message ?? e);
    check(name, e?.code === status || msg.includes(String(status)), { code: e?.code, msg });
  }
}

const agent = await connect(env("AGENT_KEY"));

// list
const tools = (await agent.listTools()).tools.map((t) => t.name).sort();
const want = env("EXPECT_TOOLS").split(",").sort();
check("tools/list shows the agent's allowed tools", JSON.stringify(tools) === JSON.stringify(want), { tools, want });
const search = (await agent.listTools()).tools.find((t) => t.name === "vargate_web_search");
check("input schema from Go types", search?.inputSchema?.required?.includes("query") && search?.inputSchema?.properties?.max_results?.type === "integer", search?.inputSchema);

// allowed call
let res = await agent.callTool({ name: "vargate_web_search", arguments: { query: "AI governance", max_results: 2 } });
check("allowed call returns the tool's answer", !res.isError && res.structuredContent?.results?.length === 2 && text(res).includes("AI governance"), res);

// denied call
res = await agent.callTool({ name: "vargate_web_search", arguments: { query: "is AKIAIOSFODNN7EXAMPLE valid" } });
check("denied call is a tool error with reasons", res.isError === true && res.structuredContent?.status === "denied" &&
  res.structuredContent?.reasons?.some((r) => r.startsWith("secret_in_arguments")), res);

// pending call
const session = await connect(env("SESSION_KEY"));
res = await session.callTool({ name: "vargate_send_email", arguments: { to: "bob@example.com", subject: "Summary", body: "Draft attached." } });
const actionID = res.structuredContent?.action_id;
check("approval-gated call is queued, as the guide shows", !res.isError && res.structuredContent?.status === "pending_approval" &&
  text(res).startsWith(`Action pending human approval. Action ID: ${actionID}. `), res);
res = await session.callTool({ name: "vargate_approval_status", arguments: { action_id: actionID } });
check("the agent can ask about its queued action", !res.isError && res.structuredContent?.status === "pending", res);

// unknown tool
try {
  res = await agent.callTool({ name: "vargate_transfer_funds", arguments: {} });
  check("unknown tool is a JSON-RPC error", false, res);
} catch (e) {
  check("unknown tool is a JSON-RPC error", e?.code === -32602, { code: e?.code, msg: e?.message });
}

// bad arguments
res = await agent.callTool({ name: "vargate_web_search", arguments: { query: 42 } });
check("bad arguments are a tool error", res.isError === true && res.structuredContent?.status === "invalid_arguments", res);

// another tenant
const other = await connect(env("OTHER_TENANT_KEY"));
const otherTools = (await other.listTools()).tools.map((t) => t.name);
check("another tenant sees only its own tools", !otherTools.includes("crm_lookup") && !otherTools.includes("vargate_send_email"), otherTools);
res = await other.callTool({ name: "vargate_approval_status", arguments: { action_id: actionID } });
check("another tenant cannot see the action", res.isError === true && text(res).includes("no action"), res);

// credentials that must not work
await expectHTTPError("bad token is refused", "vgk_" + "x".repeat(43), 401);
await expectHTTPError("token of an ended session is refused", env("ENDED_SESSION_KEY"), 401);
await expectHTTPError("human key is refused", env("ADMIN_KEY"), 403);

await Promise.all([agent.close(), session.close(), other.close()]);
console.log(failures === 0 ? "PASS" : `${failures} FAILED`);
process.exit(failures === 0 ? 0 : 1);
