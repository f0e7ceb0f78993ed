// Preloaded into the SOAJS controller (`node -r loopback_only.cjs ...`) by tests/support/soajs_gateway.py.
// Loopback only:
// the controller listens on all interfaces with no option to choose, and its ports (4000, 5000) are fixed,
// so every server that asks for a port without a host is bound to 127.0.0.1 instead.
"use strict";
const net = require("net");

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    const first = args[0];
    if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
        if (typeof args[1] !== "string") {
            args.splice(1, 0, "127.0.0.1");
        }
    } else if (first && typeof first === "object" && first.port !== undefined && !first.host && !first.path) {
        args[0] = Object.assign({}, first, { host: "127.0.0.1" });
    }
    return listen.apply(this, args);
};

// The test process holds our standard input: when it goes away (even killed), so do we, so that a
// controller never outlives its tests and keeps the fixed ports.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
