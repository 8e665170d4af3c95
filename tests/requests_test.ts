/**
 * The request modules (server/requests/) and the state they apply to
 * (NicknameIndex, RoomPresence), without sockets: a recording output stands
 * in for the hub's.
 */

import assert from "node:assert/strict";
import {
  decodeJsonBody,
  encodeFrame,
  HEADER_SIZE,
  LOBBY,
  readSenderId,
  readTag,
  Tag,
  tagName,
} from "../protocol/mod.ts";
import { Connection, ConnectionState } from "../server/connection.ts";
import { Logger } from "../server/logger.ts";
import { NicknameIndex } from "../server/nickname_index.ts";
import type { Room } from "../server/room.ts";
import { RoomDirectory } from "../server/room_directory.ts";
import { RoomPresence } from "../server/room_presence.ts";
import {
  LIST_LIMIT,
  parseJoin,
  parseNick,
  type RequestContext,
  requestHandler,
  sendHistoryAnswer,
} from "../server/requests/mod.ts";
import type {
  HistoryAnswer,
  HistoryRequest,
  HistoryStore,
} from "../server/history/mod.ts";

const encoder = new TextEncoder();
const idleTransport = {
  remoteAddress: "127.0.0.1:1",
  write: () => new Promise<number>(() => {}),
  close() {},
} as ConstructorParameters<typeof Connection>[0];

/** What the output was asked to do, one line each, in order. */
function describe(frame: Uint8Array): string {
  const body = new TextDecoder().decode(frame.subarray(HEADER_SIZE));
  return `${tagName(readTag(frame, 0))}(${readSenderId(frame, 0)}) ${body}`;
}

/** A hub's worth of request state with a recording output. */
function setup(presenceMaxMembers = 100) {
  const log: string[] = [];
  const closed: Connection[] = [];
  const rooms = new RoomDirectory();
  const output = {
    send: (client: Connection, frame: Uint8Array) =>
      log.push(`to ${client.id}: ${describe(frame)}`),
    announce: (room: Room, frame: Uint8Array) =>
      log.push(`to ${room.name}: ${describe(frame)}`),
  };
  const presence = new RoomPresence(rooms, output, presenceMaxMembers);
  const context: RequestContext = {
    presence,
    nicknames: new NicknameIndex(),
    maxRoomNameBytes: 64,
    maxNicknameBytes: 32,
    logger: new Logger({ level: "error", write: () => {} }),
    history: null,
    historyMaxReply: 200,
    historyAnswered: () => {},
    send: output.send,
    refuse: (client, tag, reason) =>
      output.send(client, encodeFrame(Tag.ERROR, tag, reason)),
    close: (client) => closed.push(client),
  };
  let nextId = 1;
  /** A registered client in the lobby (its join not logged). */
  const connect = (): Connection => {
    const client = new Connection(idleTransport, 1024, () => {});
    client.id = nextId++;
    client.state = ConnectionState.Open;
    client.declareHubbub();
    rooms.move(client, LOBBY);
    return client;
  };
  /** Apply a request the way the hub does. */
  const request = (
    client: Connection,
    tag: number,
    body: string | Uint8Array,
  ) => {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    requestHandler(tag)!(context, client, bytes);
  };
  return { log, closed, rooms, presence, context, connect, request };
}

Deno.test("Requests: JOIN and NICK bodies are read as strict UTF-8 in NFC, and bad names are refused with the reason", () => {
  assert.deepEqual(parseJoin(encoder.encode("cafe\u0301"), 64), {
    room: "caf\u00e9",
  });
  assert.deepEqual(parseJoin(new Uint8Array([0xff]), 64), {
    problem: "room name is not valid UTF-8",
  });
  assert.deepEqual(parseJoin(new Uint8Array(0), 64), {
    problem: "room name is empty",
  });
  assert.deepEqual(parseNick(encoder.encode("Jose\u0301"), 32), {
    nickname: "Jos\u00e9",
  });
  assert.deepEqual(parseNick(new Uint8Array([0xc3]), 32), {
    problem: "nickname is not valid UTF-8",
  });
  assert.deepEqual(parseNick(encoder.encode("a b"), 32), {
    problem: "nickname has whitespace",
  });
});

Deno.test("Requests: JOIN moves the client, telling the old room of the leave and the new one of the join", () => {
  const { log, connect, request } = setup();
  const a = connect();
  connect();
  request(a, Tag.JOIN, "rust");
  assert.equal(a.room!.name, "rust");
  assert.deepEqual(log, [
    `to lobby: PRESENCE(1) {"event":"leave","room":"lobby","id":1,"nick":null}`,
    `to rust: PRESENCE(1) {"event":"join","room":"rust","id":1,"nick":null}`,
  ]);
});

Deno.test("Requests: JOIN of the room the client is in confirms to it alone; a bad name is refused with ERROR tagged JOIN", () => {
  const { log, connect, request } = setup();
  const a = connect();
  request(a, Tag.JOIN, LOBBY);
  request(a, Tag.JOIN, "");
  assert.deepEqual(log, [
    `to 1: PRESENCE(1) {"event":"join","room":"lobby","id":1,"nick":null}`,
    `to 1: ERROR(${Tag.JOIN}) room name is empty`,
  ]);
});

Deno.test("Requests: the last member leaving a room says nothing and the room goes, the lobby stays", () => {
  const { log, rooms, connect, request } = setup();
  const a = connect();
  request(a, Tag.JOIN, "rust");
  log.length = 0;
  request(a, Tag.JOIN, LOBBY);
  assert.equal(rooms.size, 1);
  assert.deepEqual(log, [
    `to lobby: PRESENCE(1) {"event":"join","room":"lobby","id":1,"nick":null}`,
  ]);
});

Deno.test("Requests: in a room over presenceMaxMembers, a join and a nickname change are told only to the client", () => {
  const { log, connect, request } = setup(1);
  const a = connect();
  connect();
  request(a, Tag.NICK, "alice");
  assert.deepEqual(log, [
    `to 1: PRESENCE(1) {"event":"nick","room":"lobby","id":1,"nick":"alice","old":null}`,
  ]);
});

Deno.test("Requests: NICK is announced to the room; a lookalike of a held nickname is refused 'nickname is taken'", () => {
  const { log, context, connect, request } = setup();
  const a = connect();
  const b = connect();
  request(a, Tag.NICK, "alice");
  request(b, Tag.NICK, "\u0430lice"); // Cyrillic а
  request(b, Tag.NICK, "ALICE");
  assert.equal(b.nickname, null);
  assert.equal(context.nicknames.holder("Alice"), a);
  assert.deepEqual(log, [
    `to lobby: PRESENCE(1) {"event":"nick","room":"lobby","id":1,"nick":"alice","old":null}`,
    `to 2: ERROR(${Tag.NICK}) nickname is taken`,
    `to 2: ERROR(${Tag.NICK}) nickname is taken`,
  ]);
});

Deno.test("Requests: NICK of the client's own nickname is confirmed to it alone; a new spelling of it is a change, and frees nothing for others", () => {
  const { log, context, connect, request } = setup();
  const a = connect();
  const b = connect();
  request(a, Tag.NICK, "alice");
  log.length = 0;
  request(a, Tag.NICK, "alice");
  request(a, Tag.NICK, "Alice");
  request(b, Tag.NICK, "alice");
  assert.equal(a.nickname, "Alice");
  assert.equal(context.nicknames.size, 1);
  assert.deepEqual(log, [
    `to 1: PRESENCE(1) {"event":"nick","room":"lobby","id":1,"nick":"alice","old":"alice"}`,
    `to lobby: PRESENCE(1) {"event":"nick","room":"lobby","id":1,"nick":"Alice","old":"alice"}`,
    `to 2: ERROR(${Tag.NICK}) nickname is taken`,
  ]);
});

Deno.test("NicknameIndex: a released nickname is free again; releasing a client without one changes nothing", () => {
  const { context, connect } = setup();
  const index = context.nicknames;
  const a = connect();
  const b = connect();
  index.release(b);
  assert.equal(index.claim(a, "alice"), true);
  assert.equal(index.claim(b, "alice"), false);
  index.release(a);
  assert.equal(a.nickname, "alice", "kept for the farewell log line");
  assert.equal(index.holder("alice"), undefined);
  assert.equal(index.claim(b, "alice"), true);
  assert.equal(index.size, 1);
});

Deno.test("RoomPresence: a leave is announced exactly when the join was (the leaver counts), and never while stopping", () => {
  const { log, presence, connect } = setup(2);
  const a = connect();
  const b = connect();
  const c = connect();
  presence.exit(c); // 3 before: the join of the third was not announced
  presence.exit(b); // 2 before: announced
  presence.exit(a, false);
  assert.deepEqual(log, [
    `to lobby: PRESENCE(2) {"event":"leave","room":"lobby","id":2,"nick":null}`,
  ]);
});

Deno.test("Requests: ROOMS lists rooms largest first, then an empty frame", () => {
  const { log, connect, request } = setup();
  const a = connect();
  connect();
  connect();
  request(a, Tag.JOIN, "rust");
  log.length = 0;
  request(a, Tag.ROOMS, "");
  assert.deepEqual(log, [
    `to 1: ROOMS(0) {"room":"lobby","members":2}`,
    `to 1: ROOMS(0) {"room":"rust","members":1}`,
    "to 1: ROOMS(0) ",
  ]);
});

Deno.test("Requests: WHO lists at most LIST_LIMIT members, then {more} for the rest, then an empty frame", () => {
  const sent: Uint8Array[] = [];
  const { context, connect, request } = setup();
  context.send = (_client, frame) => sent.push(frame);
  const a = connect();
  for (let i = 0; i < LIST_LIMIT + 4; i++) connect();
  request(a, Tag.WHO, "");
  assert.equal(sent.length, LIST_LIMIT + 2);
  assert.ok(sent.every((frame) => readTag(frame, 0) === Tag.WHO));
  assert.deepEqual(
    decodeJsonBody(sent[LIST_LIMIT].subarray(HEADER_SIZE)),
    { more: 5 },
  );
  assert.equal(sent[LIST_LIMIT + 1].length, HEADER_SIZE);
});

Deno.test("Requests: PING is answered PONG with the same body; CLOSE asks the hub to close", () => {
  const { log, closed, connect, request } = setup();
  const a = connect();
  request(a, Tag.PING, "t=42");
  request(a, Tag.CLOSE, "");
  assert.deepEqual(log, ["to 1: PONG(0) t=42"]);
  assert.deepEqual(closed, [a]);
});

Deno.test("Requests: PONG, tags only servers send and unknown tags have no handler (skipped)", () => {
  for (
    const tag of [Tag.PONG, Tag.ISSUE_ID, Tag.CHAT, Tag.PRESENCE, Tag.AUTH, 99]
  ) {
    assert.equal(requestHandler(tag), undefined, `tag ${tag}`);
  }
});

Deno.test("Requests: HISTORY asks the store about the client's current room with the reply cap, and the answer goes out only while the client is connected", () => {
  const { log, context, connect } = setup();
  const asked: [string, HistoryRequest][] = [];
  const replies: ((answer: HistoryAnswer) => void)[] = [];
  const store = {
    query(room: string, request: HistoryRequest, reply) {
      asked.push([room, request]);
      replies.push(reply);
    },
  } as Partial<HistoryStore> as HistoryStore;
  const answered: [Connection, HistoryAnswer][] = [];
  const withHistory: RequestContext = {
    ...context,
    history: store,
    historyMaxReply: 7,
    historyAnswered: (client, answer) => answered.push([client, answer]),
  };
  const a = connect();
  const handle = requestHandler(Tag.HISTORY)!;
  handle(withHistory, a, encoder.encode('{"after":3,"until":9}'));
  handle(withHistory, a, encoder.encode('{"last":1,"after":2}'));
  handle(context, a, encoder.encode('{"last":1}'));
  assert.deepEqual(asked, [["lobby", { after: 3, until: 9, limit: 7 }]]);
  assert.deepEqual(log, [
    `to 1: ERROR(12) history request needs exactly one of "last" and "after"`,
    "to 1: ERROR(12) history is off",
  ]);
  // The store's reply goes back to the hub, which sends it on its turn.
  const answer: HistoryAnswer = {
    room: "lobby",
    entries: [{
      room: "lobby",
      id: 4,
      sender: 9,
      nick: null,
      time: 5,
      body: encoder.encode("hi"),
    }],
    count: 1,
    first: 4,
    last: 4,
    complete: true,
    missing: 0,
    more: false,
  };
  replies[0](answer);
  assert.deepEqual(answered, [[a, answer]]);
  log.length = 0;
  sendHistoryAnswer(context, a, answer);
  assert.deepEqual(log, [
    `to 1: HISTORY(9) {"room":"lobby","id":4,"sender":9,"nick":null,"time":5}`,
    "to 1: HISTORY_TEXT(9) hi",
    `to 1: HISTORY_END(0) {"room":"lobby","count":1,"first":4,"last":4,"complete":true,"missing":0,"more":false}`,
  ]);
  log.length = 0;
  a.state = ConnectionState.Closed;
  sendHistoryAnswer(context, a, answer);
  assert.deepEqual(log, []);
});

Deno.test("Requests: with history on, a join carries the room's last id", () => {
  const rooms = new RoomDirectory();
  const log: string[] = [];
  const presence = new RoomPresence(
    rooms,
    {
      send: (client, frame) => log.push(`to ${client.id}: ${describe(frame)}`),
      announce: (room, frame) =>
        log.push(`to ${room.name}: ${describe(frame)}`),
    },
    100,
    (room) => room.name === "lobby" ? 41 : 0,
  );
  const client = new Connection(idleTransport, 1024, () => {});
  client.id = 1;
  client.state = ConnectionState.Open;
  client.declareHubbub();
  presence.enter(client, LOBBY);
  presence.confirmJoin(client);
  presence.enter(client, "dev");
  assert.deepEqual(log, [
    `to lobby: PRESENCE(1) {"event":"join","room":"lobby","id":1,"nick":null,"last_id":41}`,
    `to 1: PRESENCE(1) {"event":"join","room":"lobby","id":1,"nick":null,"last_id":41}`,
    `to dev: PRESENCE(1) {"event":"join","room":"dev","id":1,"nick":null,"last_id":0}`,
  ]);
});
