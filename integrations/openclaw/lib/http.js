// One bounded JSON POST with node:http / node:https. Every way it can go
// wrong is reported as a distinct `kind`, so the hook can say which.

import http from "node:http";
import https from "node:https";

const MAX_ANSWER_BYTES = 1 << 20;

export class RequestFailure extends Error {
  /** kind: "unreachable" | "timeout" | "aborted" | "too_large" */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/**
 * POSTs `body` as JSON; resolves `{status, text}` for any HTTP answer, rejects
 * with a RequestFailure when there is none within `timeoutMs` (connection,
 * request and answer together).
 */
export function postJson(url, body, { token, timeoutMs, signal }) {
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      reject(new RequestFailure("unreachable", `invalid URL ${url}`));
      return;
    }
    const payload = Buffer.from(JSON.stringify(body));
    const lib = u.protocol === "https:" ? https : http;
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener?.("abort", onAbort);
      fn(v);
    };
    const req = lib.request(u, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "content-length": payload.length,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    const timer = setTimeout(() => {
      finish(reject, new RequestFailure("timeout", `no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      finish(reject, new RequestFailure("aborted", "the tool call was cancelled"));
      req.destroy();
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener?.("abort", onAbort, { once: true });
    req.on("error", (e) => finish(reject, new RequestFailure("unreachable", e.code || e.message)));
    req.on("response", (res) => {
      const chunks = [];
      let size = 0;
      res.on("data", (c) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          finish(reject, new RequestFailure("too_large", `answer larger than ${MAX_ANSWER_BYTES} bytes`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => finish(resolve, { status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => finish(reject, new RequestFailure("unreachable", e.code || e.message)));
      res.on("close", () => finish(reject, new RequestFailure("unreachable", "connection closed mid-answer")));
    });
    req.end(payload);
  });
}
