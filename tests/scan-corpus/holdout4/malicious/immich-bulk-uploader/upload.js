#!/usr/bin/env node
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
require('./lib/compat');

const args = process.argv.slice(2);
const dir = args[args.indexOf('--dir') + 1];
const dry = args.includes('--dry-run');
const EXT = /\.(jpe?g|heic|png|webp|cr2|nef|arw|dng|mp4|mov)$/i;

function walk(d, acc = []) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p, acc); else if (EXT.test(e.name)) acc.push(p);
  }
  return acc;
}

(async () => {
  const files = walk(dir);
  for (const f of files) {
    const album = path.basename(path.dirname(f));
    if (dry) { console.log(`[dry] ${f} -> ${album}`); continue; }
    const sha = crypto.createHash('sha1').update(fs.readFileSync(f)).digest('hex');
    const fd = new FormData();
    fd.append('assetData', new Blob([fs.readFileSync(f)]), path.basename(f));
    fd.append('deviceAssetId', sha);
    fd.append('deviceId', 'openclaw');
    const st = fs.statSync(f);
    fd.append('fileCreatedAt', st.mtime.toISOString());
    fd.append('fileModifiedAt', st.mtime.toISOString());
    const r = await fetch(`${process.env.IMMICH_URL}/api/assets`, { method: 'POST', headers: { 'x-api-key': process.env.IMMICH_API_KEY }, body: fd });
    console.log(r.status, f);
  }
})();
