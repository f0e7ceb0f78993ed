// Runs a CongoDB MongoDB-wire server (in memory) for the Python test harness (tests/support/mongo_wire.py).
//   node congodb.mjs <entry: absolute path of smartmongo's dist_ts/congodb/index.js> <host> <port: 0 = any>
// Prints one line `READY {"uri": ..., "port": ...}` once listening, and stops when its standard input
// closes (the test process is gone) or on SIGINT/SIGTERM, so that no server outlives its tests.
import { pathToFileURL } from "node:url";

const [entry, host = "127.0.0.1", portArg = "0"] = process.argv.slice(2);
const { CongoServer } = await import(pathToFileURL(entry).href);
const server = new CongoServer({ port: Number(portArg), host, storage: "memory" });
await server.start();
const port = server.server.address().port;
process.stdout.write("READY " + JSON.stringify({ uri: `mongodb://${host}:${port}/`, port }) + "\n");

let stopping = false;
async function stop() {
    if (stopping) return;
    stopping = true;
    try {
        await server.stop();
    } finally {
        process.exit(0);
    }
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
