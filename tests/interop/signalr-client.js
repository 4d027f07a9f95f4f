#!/usr/bin/env node
// A SignalR client in Node.js (@microsoft/signalr, MessagePack via @microsoft/signalr-protocol-msgpack) that calls the
// ChatHub of a host tracked by Matomo.Rpc.
// Usage: node signalr-client.js <hub url> <WebSockets|ServerSentEvents|LongPolling> <json|messagepack> <session|hold>
//   session: one connection that invokes, fails twice, streams both ways, cancels a stream, then stops; prints one
//            JSON line per step and exits 0 when every step ended as expected.
//   hold:    connects, invokes Echo once, prints "READY <connection id>" and waits to be killed (an abrupt client end).
// Options (environment): INTEROP_HEADERS: a JSON object of headers the client sends on every request (Node.js only;
// browsers forbid scripts to set Sec-* headers), e.g. {"Sec-GPC":"1"}.
'use strict';

const signalR = require('@microsoft/signalr');
const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack');

const [url, transportName, protocolName, mode] = process.argv.slice(2);
const transport = signalR.HttpTransportType[transportName];
if (!url || transport === undefined || !['json', 'messagepack'].includes(protocolName) || !['session', 'hold'].includes(mode)) {
  console.error('usage: node signalr-client.js <hub url> <WebSockets|ServerSentEvents|LongPolling> <json|messagepack> <session|hold>');
  process.exit(2);
}

let builder = new signalR.HubConnectionBuilder()
  .withUrl(url, { transport, headers: JSON.parse(process.env.INTEROP_HEADERS || '{}') })
  .configureLogging(signalR.LogLevel.Warning);
if (protocolName === 'messagepack') {
  builder = builder.withHubProtocol(new MessagePackHubProtocol());
}
const connection = builder.build();

function report(step, ok, detail) {
  console.log(JSON.stringify({ step, ok, ...detail }));
  return ok;
}

async function expectError(step, invoke, expectedText) {
  try {
    await invoke();
    return report(step, false, { error: 'no error' });
  } catch (err) {
    const message = String(err && err.message);
    return report(step, message.includes(expectedText), { error: message });
  }
}

function readStream(name, args, cancelAfter) {
  return new Promise((resolve, reject) => {
    const items = [];
    let subscription;
    subscription = connection.stream(name, ...args).subscribe({
      next: (item) => {
        items.push(item);
        if (cancelAfter !== undefined && items.length === cancelAfter) {
          subscription.dispose();
          resolve(items);
        }
      },
      complete: () => resolve(items),
      error: reject,
    });
  });
}

async function session() {
  const results = [];
  await connection.start();
  results.push(report('start', connection.state === signalR.HubConnectionState.Connected, { connectionId: connection.connectionId }));

  const echo = await connection.invoke('Echo', 'hi');
  results.push(report('Echo', echo === 'hi', { result: echo }));
  const shout = await connection.invoke('shout', 'hey');
  results.push(report('shout', shout === 'HEY', { result: shout }));
  results.push(await expectError('FailWithHubException', () => connection.invoke('FailWithHubException'), 'no such room'));
  results.push(await expectError('FailUnhandled', () => connection.invoke('FailUnhandled'), 'An unexpected error occurred invoking'));

  const counted = await readStream('Count', [3, 0]);
  results.push(report('Count', JSON.stringify(counted) === '[0,1,2]', { items: counted }));

  // A server-to-client stream the client cancels while the hub waits in it.
  const gated = await readStream('Gated', [], 1);
  results.push(report('Gated', JSON.stringify(gated) === '[1]', { items: gated }));

  // A client-to-server stream of three items.
  const subject = new signalR.Subject();
  const upload = connection.invoke('Upload', subject);
  for (const item of ['a', 'b', 'c']) {
    subject.next(item);
  }
  subject.complete();
  const uploaded = await upload;
  results.push(report('Upload', uploaded === 3, { result: uploaded }));

  await connection.stop();
  results.push(report('stop', connection.state === signalR.HubConnectionState.Disconnected, {}));
  return results.every((r) => r);
}

async function hold() {
  await connection.start();
  await connection.invoke('Echo', 'held');
  console.log('READY ' + connection.connectionId);
  // Stays connected until the process is killed.
  await new Promise(() => {});
}

(mode === 'session' ? session() : hold()).then(
  (ok) => process.exit(ok ? 0 : 1),
  (err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  });
