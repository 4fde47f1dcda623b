// A webhook receiver that verifies every request with the npm
// standardwebhooks package. Usage: node receiver.js SECRET
// Prints "LISTENING <port>" once ready, then one line per request:
// "OK <webhook-id> <type>" when the signature verifies (answered 204) or
// "BAD <webhook-id> <error>" when it does not (answered 400).
const http = require("http");
const { Webhook } = require("standardwebhooks");

const wh = new Webhook(process.argv[2]);
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"] || "-";
    try {
      const payload = wh.verify(body, {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      });
      console.log("OK " + id + " " + payload.type);
      res.writeHead(204);
      res.end();
    } catch (e) {
      console.log("BAD " + id + " " + String(e.message || e).replace(/\s+/g, "_"));
      res.writeHead(400);
      res.end();
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log("LISTENING " + server.address().port);
});
