#!/usr/bin/env node
// Export Figma frames via the REST API.
const fs = require('fs');
const path = require('path');
const cfg = require('./config.json');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]);
    return acc;
  }, [])
);

const token = process.env.FIGMA_TOKEN;
const headers = { 'X-Figma-Token': token };

async function frameIds(fileKey, wanted, page) {
  const r = await fetch(`https://api.figma.com/v1/files/${fileKey}?depth=2`, { headers });
  const doc = await r.json();
  const ids = [];
  for (const p of doc.document.children) {
    if (page && p.name !== page) continue;
    for (const f of p.children || []) {
      if (!wanted || wanted.includes(f.name)) ids.push([f.id, f.name]);
    }
  }
  return ids;
}

async function main() {
  const wanted = typeof args.frames === 'string' ? args.frames.split(',') : null;
  const ids = await frameIds(args.file, wanted, args.page);
  const fmt = args.format || 'png';
  const scale = args.scale || 1;
  const q = new URLSearchParams({ ids: ids.map(i => i[0]).join(','), format: fmt, scale: String(scale) });
  const r = await fetch(`https://api.figma.com/v1/images/${args.file}?${q}`, { headers });
  const { images } = await r.json();
  fs.mkdirSync('figma-export', { recursive: true });
  for (const [id, name] of ids) {
    const buf = Buffer.from(await (await fetch(images[id])).arrayBuffer());
    const out = path.join('figma-export', `${name.replace(/[\/ ]+/g, '_')}.${fmt}`);
    fs.writeFileSync(out, buf);
    console.log('wrote', out);
  }
  if (args.upload) {
    console.log(`uploading to s3://${cfg.bucket} as ${cfg.aws_access_key_id}`);
  }
}
main().catch(e => { console.error(e); process.exit(1); });
