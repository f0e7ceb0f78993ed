// A Plugboard consumer written with the official `phoenix` client: joins `service` and answers requests.
// Usage: node consumer.cjs ENDPOINT TOKEN ACTIONS_JSON [query|authToken|join]
// join: the actions map goes in the channel's join params (a map too long for a URL), not the socket's.
// Prints one JSON line per event ({"joined": ...}, {"request": ...}, {"error": ...}) for the test to read.
"use strict";
const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [endpoint, token, actions, mode = "query"] = process.argv.slice(2);
const options = {
  transport: WebSocket,
  params: mode === "authToken" ? { actions } : mode === "join" ? { token } : { token, actions },
  reconnectAfterMs: () => 60000,
  rejoinAfterMs: () => 60000,
};
if (mode === "authToken") options.authToken = token;

const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = new Socket(endpoint, options);
socket.onError((error) => say({ socket_error: String(error && error.message ? error.message : error) }));
socket.connect();

const channel = socket.channel("service", mode === "join" ? { actions: JSON.parse(actions) } : {});
channel.on("request", (payload) => {
  say({ request: payload });
  const response = {
    status_code: 200,
    message: "answered by phoenix.js",
    fields: { action: payload.action, echo: payload.fields, vsn: socket.vsn },
  };
  // A response's ref must be the request's response_ref, so it is pushed below the Channel API.
  socket.push({ topic: "service", event: "response", payload: response, ref: payload.response_ref, join_ref: channel.joinRef() });
});
channel.on("num_consumers", (payload) => say({ num_consumers: payload.num_consumers }));
channel
  .join()
  .receive("ok", (reply) => say({ joined: reply }))
  .receive("error", (reply) => {
    say({ error: reply });
    process.exit(2);
  });

setTimeout(() => process.exit(3), 60000).unref();
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
