package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/peercall/peercall/protocol"
)

// ClusterOptions configure the Redis-backed backend.
type ClusterOptions struct {
	// LocalOptions are the room rules' limits, as for Local. MaxRooms and
	// MaxTotalParticipants bound this node's own connections; the room
	// capacity (MaxParticipants) and the lobby hold cluster-wide. Every
	// node must have the same SessionSecret, or resumes through another
	// node fail.
	LocalOptions
	// Redis is the shared store. Required.
	Redis *redis.Client
	// KeyPrefix starts every key and channel. Default "peercall:".
	KeyPrefix string
	// NodeID names this node. Default: random.
	NodeID string
	// Heartbeat is how often the node proves it is alive and checks the
	// others. Default 1s.
	Heartbeat time.Duration
	// NodeTTL is how long a node may miss heartbeats before the others
	// take its participants over (they become reconnecting, and time out
	// after Grace unless they resume through another node). Default 5s.
	NodeTTL time.Duration
	// OpTimeout bounds one change to a room, waiting for its lock
	// included. Default 3s.
	OpTimeout time.Duration
	// ConfigCheck summarises the settings every node must share (a hash
	// of the secrets and limits). The first node stores it; a node whose
	// check differs logs an error and reports ConfigMismatch.
	ConfigCheck string
	Logger      *slog.Logger
}

// Cluster is a Backend whose rooms live in Redis, shared by any number of
// nodes. Each node holds its own participants' connections; a frame for a
// participant on another node goes through that node's Redis channel.
type Cluster struct {
	opts   ClusterOptions
	rdb    *redis.Client
	node   string
	resume resumeSigner
	rules  rules
	log    *slog.Logger
	pfx    string

	mu    sync.Mutex
	local map[string]*clusterAttachment // participant ID → its attachment on this node
	rooms map[string]int                // room → attachments on this node

	ps     *redis.PubSub
	kick   chan struct{} // asks for a heartbeat now
	cancel context.CancelFunc
	done   sync.WaitGroup

	token      string      // this process's heartbeat value
	beaten     atomic.Bool // a heartbeat of this process has been stored
	mismatch   atomic.Bool // this node's ConfigCheck differs from the cluster's
	lastLog    atomic.Int64
	beating    atomic.Bool // the last heartbeat reached Redis
	subscribed atomic.Bool // the node's channel is subscribed
	lastErr    atomic.Pointer[string]
	rtt        atomic.Int64 // ns, last heartbeat round trip
	nodes      atomic.Int64
	cmds       atomic.Uint64
	cmdErrs    atomic.Uint64
}

// ClusterStats are a node's figures about the cluster.
type ClusterStats struct {
	Node string
	// Healthy reports whether this node reaches Redis and listens on its
	// channel; Problem says why not.
	Healthy bool
	Problem string
	// Nodes is the number of live nodes seen at the last heartbeat.
	Nodes int
	// RedisRTT is the round trip of the last heartbeat.
	RedisRTT time.Duration
	// ConfigMismatch reports that this node's shared settings differ
	// from the cluster's (see ClusterOptions.ConfigCheck).
	ConfigMismatch bool
	// RedisCommands counts commands sent (a script is one); RedisErrors
	// those that failed.
	RedisCommands uint64
	RedisErrors   uint64
}

// NewCluster starts a node of a cluster: it subscribes to its channel and
// starts heartbeats. Redis need not be up yet: the node reports itself
// unhealthy (and refuses joins with ErrUnavailable) until it is.
func NewCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Redis == nil {
		return nil, errors.New("room: cluster needs a Redis client")
	}
	opts.LocalOptions.setDefaults()
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "peercall:"
	}
	if opts.NodeID == "" {
		opts.NodeID = strings.ToLower(rand.Text()[:10])
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = time.Second
	}
	if opts.NodeTTL == 0 {
		opts.NodeTTL = 5 * time.Second
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = 3 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		opts:   opts,
		rdb:    opts.Redis,
		node:   opts.NodeID,
		resume: resumeSigner{key: opts.SessionSecret, ttl: 24 * time.Hour},
		log:    opts.Logger.With("node", opts.NodeID),
		pfx:    opts.KeyPrefix,
		local:  map[string]*clusterAttachment{},
		rooms:  map[string]int{},
		kick:   make(chan struct{}, 1),
		token:  rand.Text(),
	}
	c.rules = opts.LocalOptions.rules(c.resume)
	c.rdb.AddHook(countHook{c})
	unknown := "not connected to Redis yet"
	c.lastErr.Store(&unknown)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.ps = c.rdb.Subscribe(ctx, c.inbox(c.node))
	c.done.Add(2)
	go c.receive(ctx)
	go c.maintain(ctx)
	return c, nil
}

// Close stops the node: it leaves the cluster's node set at once rather
// than after its TTL. Participants still attached here are taken over by
// the other nodes as reconnecting.
func (c *Cluster) Close() error {
	c.cancel()
	err := c.ps.Close()
	c.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.rdb.Del(ctx, c.key("node:"+c.node))
	return err
}

// Node is this node's ID.
func (c *Cluster) Node() string { return c.node }

func (c *Cluster) key(s string) string      { return c.pfx + s }
func (c *Cluster) inbox(node string) string { return c.pfx + "to:" + node }
func (c *Cluster) heldKey(id string) string { return c.pfx + "held:" + id }
func (c *Cluster) graceTTL() int64 {
	return (c.opts.Grace + c.opts.NodeTTL + 10*time.Second).Milliseconds()
}

// Stats implements Backend: this node's rooms and participants.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Rooms: len(c.rooms), Participants: len(c.local)}
}

// ClusterStats reports this node's view of the cluster.
func (c *Cluster) ClusterStats() ClusterStats {
	st := ClusterStats{
		Node:           c.node,
		Nodes:          int(c.nodes.Load()),
		RedisRTT:       time.Duration(c.rtt.Load()),
		RedisCommands:  c.cmds.Load(),
		RedisErrors:    c.cmdErrs.Load(),
		ConfigMismatch: c.mismatch.Load(),
	}
	st.Healthy = c.healthy()
	if !st.Healthy {
		st.Problem = *c.lastErr.Load()
	}
	return st
}

// Health is nil while the node reaches Redis, else why it does not.
func (c *Cluster) Health() error {
	if c.healthy() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, *c.lastErr.Load())
}

func (c *Cluster) healthy() bool { return c.beating.Load() && c.subscribed.Load() }

// problem records why the node cannot use Redis, and logs it when the
// node was healthy, and then every 30 s at most.
func (c *Cluster) problem(what string, err error) {
	s := what + ": " + err.Error()
	c.lastErr.Store(&s)
	now := time.Now().UnixNano()
	if last := c.lastLog.Load(); c.healthy() || now-last > int64(30*time.Second) {
		c.lastLog.Store(now)
		c.log.Warn("cluster: cannot use Redis; joins are refused until it is back", "what", what, "err", err)
	}
}

// countHook counts Redis commands for the metrics.
type countHook struct{ c *Cluster }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.c.cmds.Add(1)
		err := next(ctx, cmd)
		if err != nil && !errors.Is(err, redis.Nil) {
			h.c.cmdErrs.Add(1)
		}
		return err
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.c.cmds.Add(uint64(len(cmds)))
		err := next(ctx, cmds)
		if err != nil {
			h.c.cmdErrs.Add(1)
		}
		return err
	}
}

// unavailable wraps a Redis error as ErrUnavailable.
func unavailable(err error) error { return fmt.Errorf("%w: %v", ErrUnavailable, err) }

// ---- changes to a room -------------------------------------------------

// clusterOutbox records what a rule decided, for the commit.
type clusterOutbox struct {
	c   *Cluster
	ops []any // triples, see commitScript
}

func (o *clusterOutbox) publish(m *member, kind byte, gen uint64, payload []byte) {
	if m.Node == "" {
		return
	}
	msg := make([]byte, 0, len(payload)+len(m.Info.ID)+24)
	msg = append(msg, kind, 0)
	msg = append(msg, m.Info.ID...)
	msg = append(msg, 0)
	if gen != 0 {
		msg = strconv.AppendUint(msg, gen, 10)
	}
	msg = append(msg, 0)
	msg = append(msg, payload...)
	o.ops = append(o.ops, "pub", o.c.inbox(m.Node), msg)
}

func (o *clusterOutbox) send(m *member, frame []byte) {
	if m.Info.Reconnecting {
		o.ops = append(o.ops, "hold", o.c.heldKey(m.Info.ID), frame)
		return
	}
	o.publish(m, 'f', 0, frame)
}

func (o *clusterOutbox) close(m *member, e protocol.Error) {
	if !m.Info.Reconnecting {
		o.publish(m, 'c', m.Gen, mustMarshal(e))
	}
}

func (o *clusterOutbox) admitted(m *member) { o.publish(m, 'a', m.Gen, mustMarshal(m.welcome)) }

func (o *clusterOutbox) removed(m *member) {
	o.ops = append(o.ops, "del", o.c.heldKey(m.Info.ID), "", "gone", o.c.key("gone:"+m.Info.ID), "")
}

// graceFor starts m's grace period.
func (o *clusterOutbox) graceFor(room string, m *member, deadline time.Time) {
	o.ops = append(o.ops, "zadd", strconv.FormatInt(deadline.UnixMilli(), 10), graceMember(room, m.Info.ID, m.Gen))
}

func graceMember(room, id string, gen uint64) string {
	return room + "\x00" + id + "\x00" + strconv.FormatUint(gen, 10)
}

// stateVersion is the format of the room state this code stores. A node
// refuses to change a room stored in a newer format (a rolling upgrade
// across a format change), rather than garble it.
const stateVersion = 1

// op applies f to room name under its lock and commits the result. It
// returns what a "take" op of f took.
func (c *Cluster) op(ctx context.Context, name string, f func(st *roomState, out *clusterOutbox) error) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpTimeout)
	defer cancel()
	lockKey, stateKey := c.key("room:"+name+":lock"), c.key("room:"+name)
	token := rand.Text()
	var raw string
	for wait := time.Millisecond; ; wait = min(2*wait, 16*time.Millisecond) {
		var err error
		raw, err = acquireScript.Run(ctx, c.rdb, []string{lockKey, stateKey}, token, (c.opts.OpTimeout + time.Second).Milliseconds()).Text()
		if err == nil {
			break
		}
		if !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		select { // another node is changing the room
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: room %q stayed busy", ErrUnavailable, name)
		case <-time.After(wait/2 + mrand.N(wait)):
		}
	}
	st := &roomState{name: name}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), st); err != nil {
			c.release(lockKey, token)
			return nil, fmt.Errorf("room %q: stored state is corrupt: %w", name, err)
		}
		if st.V > stateVersion {
			c.release(lockKey, token)
			return nil, fmt.Errorf("%w: room %q was stored by a newer peercall (format %d; this node knows %d): upgrade this node", ErrUnavailable, name, st.V, stateVersion)
		}
	}
	out := &clusterOutbox{c: c}
	if err := f(st, out); err != nil {
		c.release(lockKey, token)
		return nil, err
	}
	state := ""
	args := []any{token, "", c.opts.MaxHeldFrames, c.graceTTL(), len(st.Members)}
	if !st.empty() {
		st.V = stateVersion
		b, err := json.Marshal(st)
		if err != nil {
			c.release(lockKey, token)
			return nil, err
		}
		state = string(b)
		args[1] = state
	}
	for _, m := range st.Members {
		args = append(args, m.Info.ID, m.Node)
	}
	args = append(args, out.ops...)
	res, err := commitScript.Run(ctx, c.rdb, []string{lockKey, stateKey, c.key("room:" + name + ":route"), c.key("grace")}, args...).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(res) != 2 || res[0] != int64(1) {
		return nil, fmt.Errorf("%w: room %q: the change took too long and was dropped", ErrUnavailable, name)
	}
	var taken []string
	for _, h := range res[1].([]any) {
		s, _ := h.(string)
		taken = append(taken, s)
	}
	return taken, nil
}

func (c *Cluster) release(lockKey, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.OpTimeout)
	defer cancel()
	releaseScript.Run(ctx, c.rdb, []string{lockKey}, token)
}

// ---- joining -------------------------------------------------------------

// Join implements Backend.
func (c *Cluster) Join(ctx context.Context, req JoinRequest) (Session, error) {
	if !c.healthy() {
		return nil, c.Health()
	}
	now := c.opts.Now()
	resumeID := ""
	if req.ResumeToken != "" {
		resumeID, _ = c.resume.verify(req.ResumeToken, req.Room, now)
	}
	a := &clusterAttachment{c: c, room: req.Room, sink: req.Sink}
	a.mu.Lock() // frames for it wait until the held ones are out
	defer a.mu.Unlock()
	var replaced *clusterAttachment
	var m *member
	held, err := c.op(ctx, req.Room, func(st *roomState, out *clusterOutbox) error {
		var err error
		m, err = c.rules.join(st, out, joinArgs{
			p:        protocol.Participant{ID: newParticipantID(), Name: req.Name, State: req.State, JoinedAt: now.UnixMilli(), Host: req.Host},
			resumeID: resumeID,
			canAdd:   func() error { return c.canAdd(req.Room) },
			attach: func(m *member) {
				m.Node = c.node
				a.id, a.gen = m.Info.ID, m.Gen
			},
		})
		if err != nil {
			return err
		}
		// Register before the commit publishes anything for it.
		replaced = c.register(a)
		out.ops = append(out.ops, "sadd", c.key("noderooms:"+c.node), req.Room)
		if m.Gen > 1 {
			out.ops = append(out.ops, "take", c.heldKey(m.Info.ID), "")
		}
		return nil
	})
	if err != nil {
		if a.id != "" {
			c.unregister(a, replaced)
		}
		return nil, err
	}
	a.waiting, a.welcome, a.info = m.Waiting, m.welcome, m.Info
	for _, f := range held {
		a.sink.Send([]byte(f))
	}
	if replaced != nil {
		replaced.closeWith(protocol.Error{Code: protocol.CodeReplaced, Message: "this session was resumed on another connection"})
	}
	return a, nil
}

// canAdd applies this node's own limits.
func (c *Cluster) canAdd(room string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.MaxTotalParticipants > 0 && len(c.local) >= c.opts.MaxTotalParticipants {
		return fmt.Errorf("%w: %d participants", ErrServerFull, len(c.local))
	}
	if _, ok := c.rooms[room]; !ok && c.opts.MaxRooms > 0 && len(c.rooms) >= c.opts.MaxRooms {
		return fmt.Errorf("%w: %d rooms", ErrServerFull, len(c.rooms))
	}
	return nil
}

// register makes a the attachment of its participant on this node and
// returns the one it replaces, if any.
func (c *Cluster) register(a *clusterAttachment) *clusterAttachment {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.local[a.id]
	if old == nil {
		c.rooms[a.room]++
	}
	c.local[a.id] = a
	return old
}

// unregister forgets a (restoring prev if given, after a failed join).
// It reports whether a was registered.
func (c *Cluster) unregister(a, prev *clusterAttachment) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local[a.id] != a {
		return false
	}
	if prev != nil {
		c.local[a.id] = prev
		return true
	}
	delete(c.local, a.id)
	if c.rooms[a.room]--; c.rooms[a.room] <= 0 {
		delete(c.rooms, a.room)
		go c.forgetRoom(a.room)
	}
	return true
}

// forgetRoom drops room from this node's rooms in Redis if it holds no
// connection there any more.
func (c *Cluster) forgetRoom(room string) {
	c.mu.Lock()
	_, back := c.rooms[room]
	c.mu.Unlock()
	if back {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.OpTimeout)
	defer cancel()
	c.rdb.SRem(ctx, c.key("noderooms:"+c.node), room)
}

// ---- the node's channel -----------------------------------------------

func (c *Cluster) receive(ctx context.Context) {
	defer c.done.Done()
	for ctx.Err() == nil {
		msg, err := c.ps.ReceiveTimeout(ctx, 2*c.opts.Heartbeat+time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue // quiet; the heartbeat pings the subscription
			}
			// Redis may have restarted and lost everything: no joins
			// until a heartbeat has checked, and reconciled.
			c.subscribed.Store(false)
			c.beating.Store(false)
			c.problem("subscribe", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.subscribed.Store(true)
				select { // beat now rather than at the next tick
				case c.kick <- struct{}{}:
				default:
				}
			}
		case *redis.Message:
			c.deliver(m.Payload)
		}
	}
}

// deliver carries out one message from the node's channel.
func (c *Cluster) deliver(msg string) {
	parts := strings.SplitN(msg, "\x00", 4)
	if len(parts) != 4 || len(parts[0]) != 1 {
		c.log.Warn("cluster: malformed message on the node channel", "len", len(msg))
		return
	}
	c.mu.Lock()
	a := c.local[parts[1]]
	c.mu.Unlock()
	if a == nil {
		return // gone meanwhile
	}
	gen, _ := strconv.ParseUint(parts[2], 10, 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.left || (gen != 0 && gen != a.gen) {
		return
	}
	switch parts[0][0] {
	case 'f':
		a.sink.Send([]byte(parts[3]))
	case 'c':
		var e protocol.Error
		if json.Unmarshal([]byte(parts[3]), &e) != nil {
			e = protocol.Error{Code: protocol.CodeInternal, Message: "internal server error"}
		}
		a.left = true
		c.unregister(a, nil)
		a.sink.Close(e)
	case 'a':
		var w Welcome
		if err := json.Unmarshal([]byte(parts[3]), &w); err != nil {
			c.log.Warn("cluster: malformed welcome", "err", err)
			return
		}
		a.waiting, a.welcome, a.info = false, w, w.Self
		a.sink.Admit(w)
	}
}

// ---- the session ---------------------------------------------------------

// clusterAttachment is the Cluster backend's Session.
type clusterAttachment struct {
	c    *Cluster
	room string
	id   string // set while joining, then immutable
	gen  uint64 // likewise

	mu      sync.Mutex // guards the fields below; held while delivering to sink
	sink    Sink
	waiting bool
	left    bool
	welcome Welcome
	info    protocol.Participant // as last known here: what a reconcile restores
}

func (a *clusterAttachment) ID() string { return a.id }

func (a *clusterAttachment) Waiting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiting
}

func (a *clusterAttachment) Welcome() Welcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.welcome
}

func (a *clusterAttachment) closeWith(e protocol.Error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.left {
		a.left = true
		a.sink.Close(e)
	}
}

// state returns an error if the attachment may not act as a member.
func (a *clusterAttachment) state() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.left:
		return ErrLeft
	case a.waiting:
		return ErrWaiting
	}
	return nil
}

func (a *clusterAttachment) Relay(msgType, to string, payload json.RawMessage) error {
	if !protocol.IsRelay(msgType) {
		return ErrBadRelay
	}
	if err := a.state(); err != nil {
		return err
	}
	c := a.c
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.OpTimeout)
	defer cancel()
	frame := protocol.AppendRelay(make([]byte, 0, len(payload)+len(msgType)+len(a.id)+40), msgType, a.id, payload)
	n, err := relayScript.Run(ctx, c.rdb, []string{c.key("room:" + a.room + ":route"), c.heldKey(to)},
		a.id, to, frame, c.pfx+"to:", c.opts.MaxHeldFrames, c.graceTTL()).Int()
	switch {
	case err != nil:
		return unavailable(err)
	case n < 0:
		return ErrLeft
	case n == 0:
		return ErrUnknownPeer
	}
	return nil
}

// change applies f to the room if this attachment speaks for a member
// (host: a host) of it.
func (a *clusterAttachment) change(host bool, f func(st *roomState, out *clusterOutbox, m *member) error) error {
	if err := a.state(); err != nil {
		return err
	}
	_, err := a.c.op(context.Background(), a.room, func(st *roomState, out *clusterOutbox) error {
		m := st.member(a.id)
		if err := check(m, a.gen, host); err != nil {
			return err
		}
		return f(st, out, m)
	})
	return err
}

func (a *clusterAttachment) Update(name string, state protocol.State) error {
	return a.change(false, func(st *roomState, out *clusterOutbox, m *member) error {
		a.c.rules.update(st, out, m, name, state)
		a.mu.Lock()
		a.info = m.Info
		a.mu.Unlock()
		return nil
	})
}

func (a *clusterAttachment) Lock(locked bool) error {
	return a.change(true, func(st *roomState, out *clusterOutbox, m *member) error {
		a.c.rules.lock(st, out, locked, a.id)
		return nil
	})
}

func (a *clusterAttachment) Admit(id string) error {
	return a.change(true, func(st *roomState, out *clusterOutbox, m *member) error {
		w := st.waiter(id)
		if w == nil {
			return ErrNotWaiting
		}
		return a.c.rules.admit(st, out, w, a.id)
	})
}

func (a *clusterAttachment) Deny(id string) error {
	return a.change(true, func(st *roomState, out *clusterOutbox, m *member) error { return a.c.rules.deny(st, out, id) })
}

func (a *clusterAttachment) Remove(id string) error {
	return a.change(true, func(st *roomState, out *clusterOutbox, m *member) error { return a.c.rules.remove(st, out, m, id) })
}

func (a *clusterAttachment) Mute(id string) error {
	return a.change(true, func(st *roomState, out *clusterOutbox, m *member) error { return a.c.rules.mute(st, out, m, id) })
}

// end stops the attachment here; it reports whether it was still live.
func (a *clusterAttachment) end() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.left {
		return false
	}
	a.left = true
	a.c.unregister(a, nil)
	return true
}

func (a *clusterAttachment) Leave(reason string) {
	if !a.end() {
		return
	}
	_, err := a.c.op(context.Background(), a.room, func(st *roomState, out *clusterOutbox) error {
		m := st.member(a.id)
		if m == nil {
			m = st.waiter(a.id)
		}
		if m != nil && m.Gen == a.gen {
			a.c.rules.leave(st, out, m, reason)
		}
		return nil
	})
	if err != nil {
		// The node's reconcile detaches it once Redis is back; it then
		// times out.
		a.c.log.Warn("cluster: leave not recorded", "room", a.room, "err", err)
	}
}

func (a *clusterAttachment) Detach() {
	if !a.end() {
		return
	}
	c := a.c
	_, err := c.op(context.Background(), a.room, func(st *roomState, out *clusterOutbox) error {
		m := st.member(a.id)
		if m == nil {
			m = st.waiter(a.id)
		}
		if m != nil && m.Gen == a.gen && !m.Info.Reconnecting {
			c.detach(st, out, m)
		}
		return nil
	})
	if err != nil {
		a.c.log.Warn("cluster: detach not recorded", "room", a.room, "err", err)
	}
}

// detach applies the detach rule to m and starts its grace period.
func (c *Cluster) detach(st *roomState, out *clusterOutbox, m *member) {
	if c.rules.detach(st, out, m) {
		m.Node = ""
		out.graceFor(st.name, m, c.opts.Now().Add(c.opts.Grace))
	}
}

// ---- upkeep: heartbeats, dead nodes, grace periods, reconciling -----------

func (c *Cluster) maintain(ctx context.Context) {
	defer c.done.Done()
	beat := time.NewTicker(c.opts.Heartbeat)
	defer beat.Stop()
	sweep := time.NewTicker(min(c.opts.Heartbeat, 250*time.Millisecond))
	defer sweep.Stop()
	c.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			c.heartbeat(ctx)
		case <-c.kick:
			c.heartbeat(ctx)
		case <-sweep.C:
			if c.beating.Load() {
				c.expireGrace(ctx)
			}
		}
	}
}

// heartbeat renews this node's key, and reconciles its participants when
// the key was gone (Redis lost its data, or the others thought this node
// dead). Then it takes over the nodes that died.
func (c *Cluster) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat+c.opts.OpTimeout)
	defer cancel()
	start := time.Now()
	prev, err := c.rdb.SetArgs(ctx, c.key("node:"+c.node), c.token, redis.SetArgs{Get: true, TTL: c.opts.NodeTTL}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.beating.Store(false)
		c.problem("heartbeat", err)
		return
	}
	c.rtt.Store(int64(time.Since(start)))
	c.ps.Ping(ctx) // a dead subscription shows itself as an error in receive
	// Our own token means nothing happened since the last beat. Nothing
	// means Redis lost it (or we were away longer than the TTL); another
	// token means an earlier process of this node ID that just died (a
	// quick restart) — or, if we had beaten already, a second live
	// process with our node ID. Either way, reconcile.
	if prev != "" && prev != c.token && c.beaten.Load() {
		c.log.Error("cluster: another process uses this node ID; give every node its own --node-id", "node", c.node)
	}
	if prev != c.token || !c.beating.Load() {
		if err := c.rdb.SAdd(ctx, c.key("nodes"), c.node).Err(); err != nil {
			c.problem("register node", err)
			return
		}
		if prev != c.token && !c.reconcile(ctx) {
			// Try again at the next beat.
			c.rdb.Del(ctx, c.key("node:"+c.node))
			return
		}
		if !c.beating.Load() {
			c.log.Info("cluster: connected to Redis", "rtt", time.Since(start))
		}
	}
	c.beaten.Store(true)
	c.beating.Store(true)
	c.checkConfig(ctx)
	c.takeOverDeadNodes(ctx)
}

// checkConfig compares this node's shared settings with the cluster's: the
// check stored by the nodes that agree on it, which keep it alive. Once
// every node has new settings (a rolling change), the old check expires.
func (c *Cluster) checkConfig(ctx context.Context) {
	if c.opts.ConfigCheck == "" {
		return
	}
	k, ttl := c.key("config-check"), 3*c.opts.NodeTTL
	stored, err := c.rdb.SetArgs(ctx, k, c.opts.ConfigCheck, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	if errors.Is(err, redis.Nil) || (err == nil && stored == c.opts.ConfigCheck) {
		if err == nil {
			c.rdb.PExpire(ctx, k, ttl)
		}
		c.mismatch.Store(false)
		return
	}
	if err == nil && !c.mismatch.Swap(true) {
		c.log.Error("cluster: this node's session secret, TURN secret or room limits differ from the other nodes'; resumes and TURN through other nodes will fail", "node", c.node)
	}
}

func (c *Cluster) takeOverDeadNodes(ctx context.Context) {
	nodes, err := c.rdb.SMembers(ctx, c.key("nodes")).Result()
	if err != nil {
		return
	}
	pipe := c.rdb.Pipeline()
	alive := make([]*redis.IntCmd, len(nodes))
	for i, n := range nodes {
		alive[i] = pipe.Exists(ctx, c.key("node:"+n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return
	}
	live := 0
	for i, n := range nodes {
		if alive[i].Val() == 1 || n == c.node {
			live++
			continue
		}
		c.takeOver(ctx, n)
	}
	c.nodes.Store(int64(live))
}

// takeOver detaches the participants of a dead node: the others see them
// reconnecting, and they time out after the grace period unless they
// resume through a live node.
func (c *Cluster) takeOver(ctx context.Context, dead string) {
	rooms, err := c.rdb.SMembers(ctx, c.key("noderooms:"+dead)).Result()
	if err != nil {
		return
	}
	c.log.Info("cluster: node stopped beating; its participants are reconnecting", "dead", dead, "rooms", len(rooms))
	for _, room := range rooms {
		_, err := c.op(ctx, room, func(st *roomState, out *clusterOutbox) error {
			for _, m := range slices.Concat(st.Members, st.Lobby) {
				if m.Node == dead && !m.left && !m.Info.Reconnecting {
					c.detach(st, out, m)
				}
			}
			return nil
		})
		if err != nil {
			return // next beat
		}
		c.rdb.SRem(ctx, c.key("noderooms:"+dead), room)
	}
	c.rdb.SRem(ctx, c.key("nodes"), dead)
}

// expireGrace removes detached participants whose grace period is over.
func (c *Cluster) expireGrace(ctx context.Context) {
	now := strconv.FormatInt(c.opts.Now().UnixMilli(), 10)
	due, err := c.rdb.ZRangeByScore(ctx, c.key("grace"), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 100}).Result()
	if err != nil {
		return
	}
	for _, d := range due {
		f := strings.Split(d, "\x00")
		if len(f) != 3 {
			c.rdb.ZRem(ctx, c.key("grace"), d)
			continue
		}
		gen, _ := strconv.ParseUint(f[2], 10, 64)
		_, err := c.op(ctx, f[0], func(st *roomState, out *clusterOutbox) error {
			if m := st.member(f[1]); m != nil && m.Gen == gen && m.Info.Reconnecting {
				c.rules.leave(st, out, m, protocol.LeftReasonTimeout)
			}
			return nil
		})
		if err == nil {
			c.rdb.ZRem(ctx, c.key("grace"), d)
		}
	}
}

// reconcile makes Redis agree with the connections this node holds, after
// Redis lost its data or the other nodes took this one over: members held
// here are attached here again (restored silently into a room Redis lost),
// and members Redis thinks are here but are not, are detached.
func (c *Cluster) reconcile(ctx context.Context) bool {
	rooms, _ := c.rdb.SMembers(ctx, c.key("noderooms:"+c.node)).Result()
	byRoom := map[string][]*clusterAttachment{}
	c.mu.Lock()
	for _, a := range c.local {
		byRoom[a.room] = append(byRoom[a.room], a)
	}
	c.mu.Unlock()
	for _, r := range rooms {
		if _, ok := byRoom[r]; !ok {
			byRoom[r] = nil
		}
	}
	ok := true
	defer func() {
		c.log.Info("cluster: reconciled this node's participants with Redis", "rooms", len(byRoom), "complete", ok)
	}()
	for room, here := range byRoom {
		gone := map[string]bool{}
		for _, a := range here {
			if n, err := c.rdb.Exists(ctx, c.key("gone:"+a.id)).Result(); err != nil {
				return false
			} else if n == 1 {
				gone[a.id] = true
			}
		}
		var lost []*clusterAttachment
		_, err := c.op(ctx, room, func(st *roomState, out *clusterOutbox) error {
			lost = c.reconcileRoom(st, out, here, gone)
			if len(here) > 0 {
				out.ops = append(out.ops, "sadd", c.key("noderooms:"+c.node), room)
			}
			return nil
		})
		if err != nil {
			ok = false
			continue
		}
		for _, a := range lost {
			if a.end() {
				a.sink.Close(protocol.Error{Code: protocol.CodeTimeout, Message: "your session timed out while this server could not reach the room store; join again"})
			}
		}
	}
	return ok
}

// reconcileRoom is reconcile for one room. Participants held here that the
// room lacks are restored, unless they are gone (they left, or timed out
// while this node was cut off). It returns the attachments of those.
func (c *Cluster) reconcileRoom(st *roomState, out *clusterOutbox, here []*clusterAttachment, gone map[string]bool) (lost []*clusterAttachment) {
	attached := map[string]uint64{}
	for _, a := range here {
		a.mu.Lock()
		left, waiting, info := a.left, a.waiting, a.info
		a.mu.Unlock()
		if left {
			continue
		}
		attached[a.id] = a.gen
		m := st.member(a.id)
		if m == nil {
			m = st.waiter(a.id)
		}
		switch {
		case m != nil && m.Gen == a.gen:
			m.Node = c.node
			if m.Info.Reconnecting {
				m.Info.Reconnecting = false
				broadcast(st, out, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.Info}))
			}
		case m == nil && !gone[a.id]:
			// Redis lost the room: put the participant back, and announce
			// it; clients take peer_joined of a peer they know as an
			// update, and one who joined meanwhile learns of it.
			m = &member{Info: info, Gen: a.gen, Waiting: waiting, Node: c.node}
			m.Info.Reconnecting = false
			if waiting {
				st.Lobby = append(st.Lobby, m)
				toHosts(st, out, mustMarshal(protocol.Knock{Type: protocol.TypeKnock, Participant: m.Info}))
			} else {
				broadcast(st, out, nil, mustMarshal(protocol.PeerJoined{Type: protocol.TypePeerJoined, Participant: m.Info}))
				st.Members = append(st.Members, m)
				slices.SortStableFunc(st.Members, func(x, y *member) int { return int(x.Info.JoinedAt - y.Info.JoinedAt) })
			}
		default:
			lost = append(lost, a)
			delete(attached, a.id)
		}
	}
	for _, m := range slices.Concat(st.Members, st.Lobby) {
		if m.Node == c.node && !m.left && !m.Info.Reconnecting && attached[m.Info.ID] != m.Gen {
			c.detach(st, out, m)
		}
	}
	return lost
}
