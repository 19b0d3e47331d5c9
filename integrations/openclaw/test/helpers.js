// A scripted stand-in for Warden's decision API on 127.0.0.1: each request
// is recorded and answered by the next responder in the script (the last
// one repeats).

import http from "node:http";
import net from "node:net";

export async function fakeWarden(script) {
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const entry = { method: req.method, path: req.url, headers: req.headers, body, at: Date.now() };
      requests.push(entry);
      const responder = script[Math.min(requests.length - 1, script.length - 1)];
      responder(res, entry);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

export const json = (status, value) => (res) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
};
export const raw = (status, text, type = "application/json") => (res) => {
  res.writeHead(status, { "content-type": type });
  res.end(text);
};
export const hang = () => () => {};
/** Answers after `ms`. */
export const later = (ms, responder) => (res, entry) => setTimeout(() => responder(res, entry), ms);

/** A port nobody listens on (bound, then released). */
export async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}
