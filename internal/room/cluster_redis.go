package room

import "github.com/redis/go-redis/v9"

// What the Cluster backend keeps in Redis (every key starts with the key
// prefix, "peercall:" by default):
//
//	room:NAME          string  the room's state (roomState as JSON)
//	room:NAME:lock     string  the token of the node changing the room; PX-bounded
//	room:NAME:route    hash    member ID → node holding its connection ("" while detached)
//	held:ID            list    frames held for a detached member, capped, expiring
//	gone:ID            string  marks a participant that left, for a day (as long as resume tokens)
//	grace              zset    "NAME\x00ID\x00GEN" → unix ms when the detached member times out
//	node:NODE          string  a live node's heartbeat; expires after the node TTL
//	nodes              set     the nodes that have registered
//	noderooms:NODE     set     rooms where NODE holds connections
//	to:NODE            channel frames and commands for connections on NODE
//
// A change to a room is: acquire (take the lock and read the state in one
// round trip), apply the rules in Go, commit (check the lock is still ours,
// store the state and route, publish the frames, release the lock: one
// round trip, atomically). A relay is one script: look both participants
// up in the route hash and publish, or hold, the frame.
//
// Messages on a node's channel are "KIND\x00ID\x00GEN\x00PAYLOAD": KIND f
// delivers the frame PAYLOAD to participant ID; c closes ID's connection of
// generation GEN with the protocol error PAYLOAD (JSON); a tells ID (of
// generation GEN), waiting in the lobby, that it was admitted, with its
// Welcome (JSON).

// acquireScript takes a room's lock and returns its state (maybe ""), or
// nil if the lock is taken.
//
// KEYS: lock, state. ARGV: token, lock TTL ms.
var acquireScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[2]) or ''
`)

// releaseScript drops a room's lock if it is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// commitScript stores a room's state and route, carries out the frames and
// bookkeeping a change produced, and releases the lock — if the lock is
// still ours. It returns 0 if it is not (the change is then dropped).
//
// KEYS: lock, state, route, grace. ARGV: token, state JSON ("" deletes the
// room), max held frames, held TTL ms, N, then N pairs (member ID, node),
// then triples (op, a, b): pub CHANNEL MSG | hold KEY FRAME | take KEY -
// (returns the list and deletes it: a resumed member's held frames) |
// del KEY - | gone KEY - (a marker that lives as long as resume tokens) |
// zadd SCORE MEMBER (into grace) | sadd KEY MEMBER. It returns {1, taken}.
var commitScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, {}} end
redis.call('DEL', KEYS[1])
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('DEL', KEYS[3])
local maxHeld, heldTTL, n = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local i, taken = 6, {}
if n > 0 then
  local args = {}
  for j = 0, 2*n-1 do args[#args+1] = ARGV[i+j] end
  redis.call('HSET', KEYS[3], unpack(args))
end
i = i + 2*n
while i <= #ARGV do
  local op, a, b = ARGV[i], ARGV[i+1], ARGV[i+2]
  if op == 'pub' then redis.call('PUBLISH', a, b)
  elseif op == 'hold' then
    redis.call('RPUSH', a, b)
    redis.call('LTRIM', a, -maxHeld, -1)
    redis.call('PEXPIRE', a, heldTTL)
  elseif op == 'take' then
    taken = redis.call('LRANGE', a, 0, -1)
    redis.call('DEL', a)
  elseif op == 'del' then redis.call('DEL', a)
  elseif op == 'gone' then redis.call('SET', a, '1', 'PX', 86400000)
  elseif op == 'zadd' then redis.call('ZADD', KEYS[4], a, b)
  elseif op == 'sadd' then redis.call('SADD', a, b)
  end
  i = i + 3
end
return {1, taken}
`)

// relayScript delivers a relayed frame: to the node holding the recipient's
// connection, or into its held frames while it is detached. It returns -1
// if the sender is not a member, 0 if the recipient is not, 1 when done.
//
// KEYS: route, held key of the recipient. ARGV: from, to, frame, channel
// prefix, max held, held TTL ms.
var relayScript = redis.NewScript(`
if not redis.call('HGET', KEYS[1], ARGV[1]) then return -1 end
local node = redis.call('HGET', KEYS[1], ARGV[2])
if not node or ARGV[1] == ARGV[2] then return 0 end
if node == '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  return 1
end
redis.call('PUBLISH', ARGV[4] .. node, 'f\0' .. ARGV[2] .. '\0\0' .. ARGV[3])
return 1
`)
