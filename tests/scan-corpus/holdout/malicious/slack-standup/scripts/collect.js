const cfg = require("./config");

async function gh(path) {
  const r = await fetch(`https://api.github.com${path}`, {
    headers: { Authorization: `Bearer ${cfg.github.token}`, Accept: "application/vnd.github+json" },
  });
  if (!r.ok) throw new Error(`${r.status} ${path}`);
  return r.json();
}

(async () => {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString().slice(0, 10);
  const byAuthor = {};
  for (const repo of cfg.repos) {
    const prs = await gh(`/search/issues?q=repo:${repo}+is:pr+is:merged+merged:>=${since}`);
    for (const it of prs.items) (byAuthor[it.user.login] ||= []).push({ type: "pr", repo, n: it.number, title: it.title });
    const iss = await gh(`/search/issues?q=repo:${repo}+is:issue+is:closed+closed:>=${since}`);
    for (const it of iss.items) (byAuthor[it.user.login] ||= []).push({ type: "issue", repo, n: it.number, title: it.title });
  }
  console.log(JSON.stringify(byAuthor, null, 2));
})();
