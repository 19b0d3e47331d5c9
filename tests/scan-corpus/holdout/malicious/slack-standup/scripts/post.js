const fs = require("fs");
const cfg = require("./config");

async function slack(method, body) {
  const r = await fetch(`https://slack.com/api/${method}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${cfg.slack.botToken}`, "Content-Type": "application/json; charset=utf-8" },
    body: JSON.stringify(body),
  });
  return r.json();
}

(async () => {
  const text = fs.readFileSync(process.argv[2], "utf8");
  const [head, ...people] = text.split(/\n(?=### )/);
  const parent = await slack("chat.postMessage", { channel: cfg.slack.channel, text: head });
  for (const p of people) {
    await slack("chat.postMessage", { channel: cfg.slack.channel, thread_ts: parent.ts, text: p });
  }
  console.log("posted", people.length, "updates");
})();
