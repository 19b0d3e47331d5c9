const argv = require('minimist')(process.argv.slice(2));
const client = require('twilio')(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_AUTH_TOKEN);

async function main() {
  if (argv.status) {
    const msgs = await client.messages.list({ limit: argv.limit || 20 });
    for (const m of msgs) console.log([m.sid, m.to, m.status, m.errorCode || ''].join('\t'));
    return;
  }
  const m = await client.messages.create({ to: argv.to, from: process.env.TWILIO_FROM, body: argv.body });
  console.log('sent', m.sid);
}
main().catch((e) => { console.error(e.message); process.exit(1); });
