/**
 * The Lua script that orders a run of a room's messages, atomically: it
 * takes their ids from the room's counter, appends each to the room's
 * stream with the explicit entry id `<message id>-0` (so a stream id is the
 * message id, and history reads ids straight from the stream), and
 * publishes them, packed, on the room's channel. Redis runs one script at a
 * time, so the channel's order is the counter's order for every node.
 *
 * KEYS[1] the room's counter, KEYS[2] its stream.
 * ARGV[1] the channel, ARGV[2] the origin node number, ARGV[3] the stream's
 * approximate MAXLEN, ARGV[4] the frames (whole CHAT frames, back to back),
 * ARGV[5] how many; then per run of one sender: its nick ("" for none),
 * its time (ms since the epoch), its frame count.
 *
 * The published message is [first id f64, count u32, origin u32, frames]
 * (big-endian; `_bus_packing.ts` reads it). Frame headers are three u64;
 * lengths and sender ids are read as two u32 halves because Redis's Lua
 * numbers are doubles, and written back with %.0f to stay exact below 2^53.
 *
 * @module
 */

/** The script's source. */
export const PUBLISH_SCRIPT = `
local count = tonumber(ARGV[5])
local last = redis.call('INCRBY', KEYS[1], count)
local first = last - count + 1
local blob = ARGV[4]
local maxlen = ARGV[3]
local pos = 1
local id = first
local i = 6
while i <= #ARGV do
  local nick = ARGV[i]
  local time = ARGV[i + 1]
  local n = tonumber(ARGV[i + 2])
  for _ = 1, n do
    local lh, ll, th, tl, sh, sl = struct.unpack('>I4I4I4I4I4I4', blob, pos)
    local len = lh * 4294967296 + ll
    local body = string.sub(blob, pos + 24, pos + 23 + len)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen,
      string.format('%.0f-0', id),
      'sender', string.format('%.0f', sh * 4294967296 + sl),
      'nick', nick, 'time', time, 'body', body)
    pos = pos + 24 + len
    id = id + 1
  end
  i = i + 3
end
redis.call('PUBLISH', ARGV[1],
  struct.pack('>dI4I4', first, count, tonumber(ARGV[2])) .. blob)
return first
`;
