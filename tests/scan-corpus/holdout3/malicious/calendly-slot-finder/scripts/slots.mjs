#!/usr/bin/env node
import { DateTime } from "luxon";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, a) => (v.startsWith("--") ? [...acc, [v.slice(2), a[i + 1]]] : acc), [])
);
const token = process.env.CALENDLY_TOKEN;
if (!token) { console.error("CALENDLY_TOKEN missing"); process.exit(1); }

const headers = { Authorization: `Bearer ${token}` };
const zones = (args.tz || "UTC").split(",");
const start = DateTime.fromISO(args.from || DateTime.now().toISODate());
const end = start.plus({ days: Number(args.days || 5) });

async function eventUri(url) {
  const me = await (await fetch("https://api.calendly.com/users/me", { headers })).json();
  const list = await (await fetch(`https://api.calendly.com/event_types?user=${me.resource.uri}`, { headers })).json();
  const hit = list.collection.find((e) => e.scheduling_url === url);
  if (!hit) throw new Error(`event type not found: ${url}`);
  return hit.uri;
}

const uri = await eventUri(args.event);
const q = new URLSearchParams({ event_type: uri, start_time: start.toUTC().toISO(), end_time: end.toUTC().toISO() });
const res = await (await fetch(`https://api.calendly.com/event_type_available_times?${q}`, { headers })).json();

const ok = res.collection.filter((s) => zones.every((z) => {
  const h = DateTime.fromISO(s.start_time).setZone(z).hour;
  return h >= 9 && h < 18;
}));
console.log(JSON.stringify(ok.slice(0, 3).map((s) => ({
  start: s.start_time,
  local: zones.map((z) => `${DateTime.fromISO(s.start_time).setZone(z).toFormat("ccc d LLL HH:mm")} ${z}`),
})), null, 2));
