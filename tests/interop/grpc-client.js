#!/usr/bin/env node
// A gRPC client in Node.js (@grpc/grpc-js + @grpc/proto-loader, protos/greet.proto of the repository) that calls a
// Greeter host tracked by Matomo.Rpc. Usage: node grpc-client.js <host:port> <scenario> [<scenario> ...]
// Each scenario prints one JSON line {"scenario":..., "status":<gRPC code>, ...}; the process exits 0 when every
// scenario ended as expected, 1 otherwise. One process is one client (one channel, one user agent).
// Options (environment): INTEROP_USER_AGENT: a primary user agent put before grpc-js's own ("grpc.primary_user_agent").
// "duplex-cancel" prints "WAITING duplex-cancel" once it sent the request the service waits in, and cancels the call
// when the test (which saw the service waiting) answers "go" on stdin: a cancel that reaches a service mid-call.
// "duplex-hold" prints "WAITING duplex-hold" once its first request was answered and holds the call open until "go".
'use strict';

const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [address, ...scenarios] = process.argv.slice(2);
if (!address || scenarios.length === 0) {
  console.error('usage: node grpc-client.js <host:port> <scenario>...');
  process.exit(2);
}

const definition = protoLoader.loadSync(path.join(__dirname, '..', '..', 'protos', 'greet.proto'), { keepCase: true, defaults: true });
const greet = grpc.loadPackageDefinition(definition).greet;
const options = {};
if (process.env.INTEROP_USER_AGENT) {
  options['grpc.primary_user_agent'] = process.env.INTEROP_USER_AGENT;
}
const client = new greet.Greeter(address, grpc.credentials.createInsecure(), options);

let stdinLines;
async function waitForGo(name) {
  stdinLines = stdinLines || readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  console.log('WAITING ' + name);
  const line = await stdinLines.next();
  if (line.done || line.value.trim() !== 'go') {
    throw new Error('expected "go" on stdin, got ' + JSON.stringify(line.value));
  }
}

function metadata(pairs) {
  const md = new grpc.Metadata();
  for (const [name, value] of pairs || []) {
    md.add(name, value);
  }
  return md;
}

function unary(name, { pairs, deadlineMs } = {}) {
  return new Promise((resolve) => {
    const callOptions = deadlineMs ? { deadline: new Date(Date.now() + deadlineMs) } : {};
    client.SayHello({ name }, metadata(pairs), callOptions, (err, reply) =>
      resolve(err ? { status: err.code, details: err.details } : { status: grpc.status.OK, message: reply.message }));
  });
}

// Reads a server stream; cancels it after `cancelAfter` replies when given.
function serverStream(name, count, cancelAfter) {
  return new Promise((resolve) => {
    const call = client.SayHelloStream({ name, count });
    const replies = [];
    call.on('data', (reply) => {
      replies.push(reply.message);
      if (cancelAfter !== undefined && replies.length === cancelAfter) {
        call.cancel();
      }
    });
    call.on('error', (err) => resolve({ status: err.code, replies: replies.length }));
    call.on('end', () => resolve({ status: grpc.status.OK, replies: replies.length }));
  });
}

function clientStream(names) {
  return new Promise((resolve) => {
    const call = client.SayHelloToMany((err, reply) =>
      resolve(err ? { status: err.code } : { status: grpc.status.OK, message: reply.message, sent: names.length }));
    for (const name of names) {
      call.write({ name });
    }
    call.end();
  });
}

// Duplex: one request, one reply, in turn. With `cancelAt`, the request at that index is one the service waits in: the
// call is cancelled once the test says the service waits.
function duplex(names, cancelAt) {
  return new Promise((resolve) => {
    const call = client.Chat();
    const replies = [];
    let next = 0;
    const writeNext = () => {
      if (next === cancelAt) {
        call.write({ name: names[next++] });
        waitForGo('duplex-cancel').then(() => call.cancel(), (err) => resolve({ status: -1, error: String(err) }));
      } else if (next < names.length) {
        call.write({ name: names[next++] });
      } else {
        call.end();
      }
    };
    call.on('data', (reply) => {
      replies.push(reply.message);
      writeNext();
    });
    call.on('error', (err) => resolve({ status: err.code, replies: replies.length }));
    call.on('end', () => resolve({ status: grpc.status.OK, replies: replies.length }));
    writeNext();
  });
}

// Duplex: one request, and a cancel as soon as its reply comes, while the service reads the request stream.
function duplexCancelWhileReading() {
  return new Promise((resolve) => {
    const call = client.Chat();
    call.on('data', () => call.cancel());
    call.on('error', (err) => resolve({ status: err.code }));
    call.on('end', () => resolve({ status: grpc.status.OK }));
    call.write({ name: 'p' });
  });
}

// Duplex: one request, its reply, then the call held open (the service reading) until "go" on stdin or the process's end.
function duplexHold() {
  return new Promise((resolve) => {
    const call = client.Chat();
    call.on('data', () => waitForGo('duplex-hold').then(() => call.end(), (err) => resolve({ status: -1, error: String(err) })));
    call.on('error', (err) => resolve({ status: err.code }));
    call.on('end', () => resolve({ status: grpc.status.OK }));
    call.write({ name: 'p' });
  });
}

// A client stream whose second message is not a HelloRequest (a field 31 varint that never ends): the service's read of
// it fails.
function undecodable() {
  return new Promise((resolve) => {
    const identity = (b) => b;
    const call = client.makeClientStreamRequest('/greet.Greeter/SayHelloToMany', identity, identity, new grpc.Metadata(), {}, (err) =>
      resolve(err ? { status: err.code, details: err.details } : { status: grpc.status.OK }));
    call.write(Buffer.from([0x0a, 0x01, 0x61]));
    call.write(Buffer.from([0xff, 0xff, 0xff]));
    call.end();
  });
}

// A method the server does not implement, on the Greeter service and on a service it does not have.
function unimplemented(methodPath) {
  return new Promise((resolve) => {
    const identity = (b) => b;
    client.makeUnaryRequest(methodPath, identity, identity, Buffer.alloc(0), new grpc.Metadata(), {}, (err) =>
      resolve(err ? { status: err.code, details: err.details } : { status: grpc.status.OK }));
  });
}

const expected = {};
const run = {
  ok: () => unary('ok'),
  notfound: () => unary('notfound'),
  crash: () => unary('crash'),
  deadline: () => unary('wait', { deadlineMs: 300 }),
  'server-stream': () => serverStream('s', 3),
  'server-stream-cancel': () => serverStream('wait', 2, 2),
  'client-stream': () => clientStream(['x', 'y', 'z']),
  duplex: () => duplex(['p', 'q']),
  'duplex-cancel': () => duplex(['p', 'wait'], 1),
  'duplex-cancel-reading': () => duplexCancelWhileReading(),
  'duplex-hold': () => duplexHold(),
  undecodable: () => undecodable(),
  metadata: () => unary('ok', { pairs: [['x-interop', 'custom value'], ['x-trace-bin', Buffer.from([0, 1, 2, 0xff, 0xfe])], ['referer', 'https://client.example/page?secret=1']] }),
  'opt-out-gpc': () => unary('ok', { pairs: [['sec-gpc', '1']] }),
  'opt-out-dnt': () => unary('ok', { pairs: [['dnt', '1']] }),
  'unimplemented-method': () => unimplemented('/greet.Greeter/NoSuchMethod'),
  'unimplemented-service': () => unimplemented('/greet.Nowhere/Nothing'),
};
expected.ok = grpc.status.OK;
expected.notfound = grpc.status.NOT_FOUND;
expected.crash = grpc.status.UNKNOWN;
expected.deadline = grpc.status.DEADLINE_EXCEEDED;
expected['server-stream'] = grpc.status.OK;
expected['server-stream-cancel'] = grpc.status.CANCELLED;
expected['client-stream'] = grpc.status.OK;
expected.duplex = grpc.status.OK;
expected['duplex-cancel'] = grpc.status.CANCELLED;
expected['duplex-cancel-reading'] = grpc.status.CANCELLED;
expected['duplex-hold'] = grpc.status.OK;
expected.undecodable = grpc.status.UNKNOWN;
expected.metadata = grpc.status.OK;
expected['opt-out-gpc'] = grpc.status.OK;
expected['opt-out-dnt'] = grpc.status.OK;
expected['unimplemented-method'] = grpc.status.UNIMPLEMENTED;
expected['unimplemented-service'] = grpc.status.UNIMPLEMENTED;

(async () => {
  let failed = false;
  for (const scenario of scenarios) {
    if (!run[scenario]) {
      console.log(JSON.stringify({ scenario, error: 'unknown scenario' }));
      failed = true;
      continue;
    }
    const result = await run[scenario]();
    const ok = result.status === expected[scenario];
    failed = failed || !ok;
    console.log(JSON.stringify({ scenario, ok, expected: expected[scenario], ...result }));
  }
  client.close();
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
