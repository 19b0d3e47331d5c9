// Where the agent's Warden token comes from: a literal, a file (re-read when
// its modification time changes, e.g. a Kubernetes projected ServiceAccount
// token), or an environment variable read at each call.

import { readFileSync, statSync } from "node:fs";

/** Returns `() => ({token} | {missing: "why"})`. */
export function tokenSource(config, env = process.env) {
  if (config.token !== undefined) {
    return () => ({ token: config.token });
  }
  if (config.tokenFile !== undefined) {
    const path = config.tokenFile;
    let cached = null; // {mtimeMs, size, token}
    return () => {
      let st;
      try {
        st = statSync(path);
      } catch (e) {
        cached = null;
        return { missing: `token file ${path} cannot be read (${e.code || e.message})` };
      }
      if (!cached || cached.mtimeMs !== st.mtimeMs || cached.size !== st.size) {
        try {
          cached = { mtimeMs: st.mtimeMs, size: st.size, token: readFileSync(path, "utf8").trim() };
        } catch (e) {
          cached = null;
          return { missing: `token file ${path} cannot be read (${e.code || e.message})` };
        }
      }
      return cached.token ? { token: cached.token } : { missing: `token file ${path} is empty` };
    };
  }
  const name = config.tokenEnv;
  return () => {
    const v = (env[name] ?? "").trim();
    return v ? { token: v } : { missing: `environment variable ${name} is unset or empty` };
  };
}
