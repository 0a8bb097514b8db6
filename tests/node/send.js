// Send records through the npm fluent-logger, as a Node.js service would.
// usage: node send.js <port> <tag> <count> <sharedKey or ""> ; prints {"acked": n, "errors": [...]}
const logger = require("fluent-logger");

const [port, tag, count, sharedKey] = process.argv.slice(2);
const [prefix, label] = tag.split(/\.(.*)/s);
const options = {
  host: "127.0.0.1",
  port: Number(port),
  timeout: 5.0,
  enableReconnect: false,
  requireAckResponse: true,
  ackResponseTimeout: 10000,
};
if (sharedKey) {
  options.security = { clientHostname: "node-client", sharedKey };
}
const sender = logger.createFluentSender(prefix, options);
const errors = [];
sender.on("error", (err) => errors.push(String(err)));

// emit() reports through its callback: with requireAckResponse, only once the gateway acked.
function emit(record) {
  return new Promise((resolve) => sender.emit(label, record, (err) => resolve(err)));
}

async function main() {
  const results = await Promise.all(
    Array.from({ length: Number(count) }, (_, i) =>
      emit({ seq: i, client: "node", msg: `hello ${i}` }),
    ),
  );
  const acked = results.filter((err) => !err).length;
  results.filter((err) => err).forEach((err) => errors.push(String(err)));
  await new Promise((resolve) => sender.end(null, null, resolve));
  console.log(JSON.stringify({ acked, errors: [...new Set(errors)] }));
}

main().catch((err) => {
  console.log(JSON.stringify({ acked: 0, errors: [String(err)] }));
  process.exit(1);
});
