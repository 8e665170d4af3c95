/**
 * The Lua scripts of cluster membership. Each change is one script so that
 * a room's member hash, the rooms set, the nick map and the node's client
 * hash never disagree, whatever other nodes do at the same time. Client ids
 * travel as strings (Lua numbers would print large ids in exponent form).
 *
 * @module
 */

import {
  NICKS_KEY,
  nodeKey,
  NODES_KEY,
  roomMembersKey,
  ROOMS_KEY,
} from "./membership_keys.ts";
import { LuaScript } from "./membership_redis.ts";

/** A placeholder no name contains, to cut a key function into Lua. */
const HOLE = "\u0000";

/**
 * A Lua function of one argument that builds the key `keyOf` builds.
 *
 * @param name The Lua function's name.
 * @param keyOf The key function.
 * @returns The Lua source.
 */
function luaKeyFunction(name: string, keyOf: (arg: string) => string): string {
  const [before, after] = keyOf(HOLE).split(HOLE);
  return `local function ${name}(arg) return ${
    JSON.stringify(before)
  } .. arg .. ${JSON.stringify(after)} end`;
}

/** Key names and the helpers every script shares. */
const COMMON = `
local ROOMS, NICKS, NODES = ${JSON.stringify(ROOMS_KEY)}, ${
  JSON.stringify(NICKS_KEY)
}, ${JSON.stringify(NODES_KEY)}
${luaKeyFunction("members_key", roomMembersKey)}
${luaKeyFunction("clients_key", (node) => nodeKey(node, "clients"))}
${luaKeyFunction("alive_key", (node) => nodeKey(node, "alive"))}
${luaKeyFunction("reaper_key", (node) => nodeKey(node, "reaper"))}
local function load_entry(node, id)
  local raw = redis.call('HGET', clients_key(node), id)
  if raw then return cjson.decode(raw) end
  return {}
end
local function save_entry(node, id, entry)
  if entry.room == nil and entry.key == nil then
    redis.call('HDEL', clients_key(node), id)
  else
    redis.call('HSET', clients_key(node), id, cjson.encode(entry))
  end
end
-- Returns true when the client was a member of the room.
local function drop_member(room, id)
  local key = members_key(room)
  if redis.call('HDEL', key, id) == 0 then return false end
  if redis.call('HLEN', key) == 0 then redis.call('SREM', ROOMS, room) end
  return true
end
local function release_nick(key, id)
  if key ~= nil and redis.call('HGET', NICKS, key) == id then
    redis.call('HDEL', NICKS, key)
  end
end
-- Removes every client of a node, appending node, room, member JSON to out
-- for each room member removed.
local function clear_node(node, out)
  local all = redis.call('HGETALL', clients_key(node))
  for i = 1, #all, 2 do
    local id, entry = all[i], cjson.decode(all[i + 1])
    if entry.room ~= nil and drop_member(entry.room, id) then
      out[#out + 1] = node
      out[#out + 1] = entry.room
      out[#out + 1] = entry.member
    end
    release_nick(entry.key, id)
  end
  redis.call('DEL', clients_key(node))
end
-- Records of an unregistered node (reaped, or never started) would never
-- be reaped, so they are refused.
local function require_registered(node)
  if redis.call('SISMEMBER', NODES, node) == 0 then
    return redis.error_reply('NOTREGISTERED node ' .. node .. ' is not registered (evicted, or its heartbeat not started)')
  end
end
local function member_json(id) return '{"id":' .. id .. ',"nick":null}' end
`;

/**
 * ARGV: node, client id, room. Moves the client into the room. This and
 * the scripts that record (nick, restore) fail with NOTREGISTERED for a
 * node not registered by its heartbeat.
 */
export const JOIN_SCRIPT = new LuaScript(
  COMMON + `
local node, id, room = ARGV[1], ARGV[2], ARGV[3]
local refused = require_registered(node)
if refused then return refused end
local entry = load_entry(node, id)
if entry.room ~= nil and entry.room ~= room then drop_member(entry.room, id) end
entry.room = room
entry.member = entry.member or member_json(id)
redis.call('HSET', members_key(room), id, entry.member)
redis.call('SADD', ROOMS, room)
save_entry(node, id, entry)
return 1
`,
);

/** ARGV: node, client id. Takes the client out of its room; keeps its nick. */
export const PART_SCRIPT = new LuaScript(
  COMMON + `
local node, id = ARGV[1], ARGV[2]
local entry = load_entry(node, id)
if entry.room ~= nil then drop_member(entry.room, id) end
entry.room = nil
save_entry(node, id, entry)
return 1
`,
);

/** ARGV: node, client id. Removes the client: its room and its nickname. */
export const REMOVE_SCRIPT = new LuaScript(
  COMMON + `
local node, id = ARGV[1], ARGV[2]
local entry = load_entry(node, id)
if entry.room ~= nil then drop_member(entry.room, id) end
release_nick(entry.key, id)
redis.call('HDEL', clients_key(node), id)
return 1
`,
);

/**
 * ARGV: node, client id, nickname key, member JSON. Claims the key with
 * HSETNX (0 when another client holds it), frees the client's old key and
 * updates its member entry.
 */
export const NICK_SCRIPT = new LuaScript(
  COMMON + `
local node, id, key, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local refused = require_registered(node)
if refused then return refused end
local holder = redis.call('HGET', NICKS, key)
if holder and holder ~= id then return 0 end
local entry = load_entry(node, id)
if entry.key ~= key then release_nick(entry.key, id) end
redis.call('HSETNX', NICKS, key, id)
entry.key = key
entry.member = member
if entry.room ~= nil then redis.call('HSET', members_key(entry.room), id, member) end
save_entry(node, id, entry)
return 1
`,
);

/**
 * ARGV: node, then id, room ('' for none), nickname key ('' for none),
 * member JSON for each of the node's clients. Replaces everything recorded
 * for the node by that list, claiming each nickname again; returns the ids
 * whose nickname another client took meanwhile (recorded with no nick).
 */
export const RESTORE_SCRIPT = new LuaScript(
  COMMON + `
local node = ARGV[1]
local refused = require_registered(node)
if refused then return refused end
clear_node(node, {})
local taken = {}
for i = 2, #ARGV - 3, 4 do
  local id, room, key, member = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local entry = {}
  if key ~= '' then
    local holder = redis.call('HGET', NICKS, key)
    if holder and holder ~= id then
      taken[#taken + 1] = id
      member = member_json(id)
    else
      redis.call('HSET', NICKS, key, id)
      entry.key = key
    end
  end
  entry.member = member
  if room ~= '' then
    entry.room = room
    redis.call('HSET', members_key(room), id, member)
    redis.call('SADD', ROOMS, room)
  end
  save_entry(node, id, entry)
end
return taken
`,
);

/** ARGV: room. The member JSON values of the room, across nodes. */
export const WHO_SCRIPT = new LuaScript(
  COMMON + `
return redis.call('HVALS', members_key(ARGV[1]))
`,
);

/** No ARGV. Room, member count, room, member count, ... */
export const ROOMS_SCRIPT = new LuaScript(
  COMMON + `
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', ROOMS)) do
  out[#out + 1] = room
  out[#out + 1] = redis.call('HLEN', members_key(room))
end
return out
`,
);

/**
 * ARGV: node, alive ttl ms, "1" on the first beat. Registers the node on
 * its first beat; later beats return 0 without refreshing when the node was
 * reaped meanwhile (its alive key had expired).
 */
export const BEAT_SCRIPT = new LuaScript(
  COMMON + `
local node, ttl = ARGV[1], ARGV[2]
if ARGV[3] == '1' then
  redis.call('SADD', NODES, node)
elseif redis.call('SISMEMBER', NODES, node) == 0 then
  return 0
end
redis.call('SET', alive_key(node), '1', 'PX', ttl)
return 1
`,
);

/**
 * ARGV: this node, reaper lock ttl ms. For each other registered node whose
 * alive key is gone, takes its reaper lock (SET NX) and, if it got it,
 * removes the node's clients and the node. Returns node, room, member JSON
 * for each room member removed. One script run is atomic, so that alone
 * makes one reaper per dead node; the lock records which node reaped and
 * keeps the rule if the clearing is ever split over several runs.
 */
export const REAP_SCRIPT = new LuaScript(
  COMMON + `
local self, ttl = ARGV[1], ARGV[2]
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', NODES)) do
  if node ~= self and redis.call('EXISTS', alive_key(node)) == 0 then
    if redis.call('SET', reaper_key(node), self, 'NX', 'PX', ttl) then
      clear_node(node, out)
      redis.call('SREM', NODES, node)
    end
  end
end
return out
`,
);

/**
 * ARGV: node. A clean shutdown: removes the node's own clients, alive key
 * and registration. Returns what {@linkcode REAP_SCRIPT} returns.
 */
export const LEAVE_CLUSTER_SCRIPT = new LuaScript(
  COMMON + `
local node = ARGV[1]
local out = {}
clear_node(node, out)
redis.call('DEL', alive_key(node))
redis.call('SREM', NODES, node)
return out
`,
);
