// Loopback reverse proxy that adds `Authorization: Bearer $WARDEN_TOKEN` to
// every request and streams both directions unchanged (Host and Origin too).
// The conformance suite has no option to send a token; this lets it talk to
// an authenticating gateway without weakening the gateway.
// Usage: WARDEN_TOKEN=... node auth_proxy.mjs LISTEN_PORT TARGET_PORT
import http from "node:http";

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
const token = process.env.WARDEN_TOKEN;
if (!listenPort || !targetPort || !token) {
  console.error("usage: WARDEN_TOKEN=... node auth_proxy.mjs LISTEN_PORT TARGET_PORT");
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: true });
http
  .createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const up = http.request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers, agent },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
    res.on("close", () => up.destroy());
  })
  .listen(listenPort, "127.0.0.1");
// Bounded lifetime: never outlive the test run.
setTimeout(() => process.exit(0), 15 * 60 * 1000).unref();
