package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pion/transport/v5/stdnet"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

const (
	// defaultPingInterval is used if the server announces none.
	defaultPingInterval = 25 * time.Second
	// writeTimeout bounds every WebSocket write.
	writeTimeout = 10 * time.Second
	// joinTimeout bounds Join when its context has no deadline.
	joinTimeout = 30 * time.Second
	// leaveTimeout bounds sending leave in Close.
	leaveTimeout = 2 * time.Second
	// readLimit is the largest frame accepted from the server. A joined
	// frame lists every participant, so allow more than a client may send.
	readLimit = 1 << 20
)

// Room is a joined room: the signaling connection and a peer for every other
// participant. Its methods are safe for concurrent use.
type Room struct {
	cfg   Config
	log   *slog.Logger
	name  string
	wsURL string
	env   *peerEnv

	ctx    context.Context // canceled when the room ends
	cancel context.CancelFunc
	// dialer connects to TURN over TCP and TLS; nil with a caller's
	// SettingEngine.
	dialer *turnDialer
	// leaveCtx is canceled by Close (and whenever ctx is): the writer then
	// sends leave, and a reconnect in progress gives up.
	leaveCtx context.Context
	leave    context.CancelFunc
	wg       sync.WaitGroup // every goroutine the room and its peers start

	out       *queue[outFrame] // frames for the writer, kept across reconnects
	events    *queue[func()]   // callbacks for the event goroutine
	lastHeard atomic.Int64     // UnixNano of the last frame from the server
	endOnce   sync.Once
	done      chan struct{}

	connMu sync.Mutex      // guards conn
	conn   *websocket.Conn // the current connection; nil while reconnecting
	probe  chan struct{}   // asks the writer for a liveness probe (cap 1)

	mu           sync.Mutex // guards the following
	self         protocol.Participant
	peers        map[string]*Peer
	ended        bool
	err          error
	rtc          webrtc.Configuration // for new PeerConnections
	pingInterval time.Duration
	resumeToken  string
	resumeGrace  time.Duration
	unconfirmed  map[string]bool        // peers not listed by a resumed joined, awaiting their own resume
	locked       bool                   // the room's lock, from joined and room_updated
	knocks       []protocol.Participant // (hosts) waiting in the lobby, oldest first

	reqMu   sync.Mutex // guards the following; never held while taking mu
	reqs    map[string]*request
	nextReq uint64
	pings   uint64 // pings written on the current connection
	pongs   uint64 // pongs read on the current connection
}

// outFrame is a frame for the writer; req is set for a host-control
// request, which the writer follows with a ping (see control.go).
type outFrame struct {
	b   []byte
	req *request
}

// Join connects to the server, joins cfg.Room and returns once the server has
// answered with joined; the context bounds only that (without a deadline,
// Join gives up after 30 s). A refusal by the server
// (room full, bad token, ...) is returned as *Error. Peers already in the
// room are reported to OnPeerJoined and offered a connection right away.
//
// If the room is locked, the server puts the participant in its lobby
// instead: Join calls Config.OnLobby and keeps waiting, pinging the server,
// until a host admits it (Join then returns normally), a host denies it
// (an *Error with code protocol.CodeDenied) or ctx ends (an error wrapping
// ctx's error; the hosts see the knock end with outcome "left"). The 30 s
// default covers only reaching the server: once in the lobby, Join waits
// as long as ctx allows, so give ctx a deadline or cancel it to bound the
// wait.
func Join(ctx context.Context, cfg Config) (*Room, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	wsURL, loopback, err := signalingURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("room", cfg.Room)

	se := cfg.settingEngine(loopback, log)
	var refresh func()
	var dialer *turnDialer
	if cfg.SettingEngine == nil {
		dialer = newTURNDialer()
		se.SetICEProxyDialer(dialer)
		// Our own view of the interfaces, shared by the room's peer
		// connections, so that an ICE restart after a network change
		// gathers on the new addresses.
		if n, err := stdnet.NewNet(); err == nil {
			se.SetNet(n)
			refresh = func() {
				if err := n.UpdateInterfaces(); err != nil {
					log.Warn("update network interfaces", "err", err)
				}
			}
		}
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))

	r := &Room{
		cfg:    cfg,
		wsURL:  wsURL,
		out:    newQueue[outFrame](),
		events: newQueue[func()](),
		done:   make(chan struct{}),
		peers:  make(map[string]*Peer),
		reqs:   make(map[string]*request),
		probe:  make(chan struct{}, 1),
		dialer: dialer,
	}
	lobby := &lobbyWait{ctx: ctx, onLobby: cfg.OnLobby}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, joinTimeout)
		defer cancel()
	}
	conn, hs, err := r.dial(ctx, "", lobby)
	if err != nil {
		if dialer != nil {
			dialer.stop()
		}
		return nil, err
	}
	joined := hs.joined
	r.log = log.With("self", joined.Self.ID)
	r.name = joined.Room
	if r.name == "" {
		r.name = cfg.Room
	}
	r.self = joined.Self
	r.applyJoinedLocked(joined)
	r.conn = conn
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.leaveCtx, r.leave = context.WithCancel(r.ctx)
	r.env = &peerEnv{
		api:               api,
		rtc:               r.rtcConfiguration,
		tracks:            slices.Clone(cfg.Tracks),
		restartGrace:      cfg.restartGrace(),
		probeSignaling:    r.probeSignaling,
		refreshInterfaces: refresh,
		log:               r.log,
		wg:                &r.wg,
		signal:            r.sendRelay,
		onTrack:           cfg.OnTrack,
		onData:            cfg.OnData,
		onChat:            cfg.OnChat,
		onStateChange:     r.peerStateChanged,
	}
	if cfg.RelayOnly && !hasTURN(r.rtc.ICEServers) {
		r.log.Warn("relay-only but no TURN server configured: no peer can connect")
	}

	r.wg.Add(2)
	go r.eventLoop()
	// The newcomer makes the first offer to everyone already in the room.
	for _, part := range joined.Participants {
		r.addPeer(part, true)
	}
	// Frames the server sent between lobby and joined (a knock for a host
	// admitted into an empty room).
	for _, b := range hs.early {
		_ = r.handleFrame(b)
	}
	go r.supervise(conn, hs.unanswered)
	r.log.Debug("joined", "participants", len(joined.Participants))
	return r, nil
}

// applyJoinedLocked takes the session parameters from a joined frame. r.mu
// must be held, or r not yet shared.
func (r *Room) applyJoinedLocked(j *protocol.Joined) {
	r.rtc = r.cfg.rtcConfiguration(j.ICEServers)
	if r.dialer != nil {
		r.dialer.setServers(r.rtc.ICEServers)
	}
	r.pingInterval = time.Duration(j.PingIntervalMS) * time.Millisecond
	if r.pingInterval <= 0 {
		r.pingInterval = defaultPingInterval
	}
	r.resumeToken = j.ResumeToken
	r.resumeGrace = time.Duration(j.ResumeGraceMS) * time.Millisecond
	r.locked = j.Locked
	r.self.Host = j.Self.Host
}

func (r *Room) rtcConfiguration() webrtc.Configuration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rtc
}

// Self returns this participant as the server knows it (ID assigned by the
// server, name and state as last sent). Self().Host reports whether it may
// use the host controls (Room.Lock and the others); in an open room it
// becomes true when the last host leaves and this is the oldest member.
func (r *Room) Self() protocol.Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.self
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Peers returns the current remote participants, sorted by ID.
func (r *Room) Peers() []*Peer {
	r.mu.Lock()
	ps := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	slices.SortFunc(ps, func(a, b *Peer) int { return strings.Compare(a.id, b.id) })
	return ps
}

// Peer returns the remote participant with the given ID, or nil.
func (r *Room) Peer(id string) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[id]
}

// Broadcast sends data as one message to every peer's data channel. It tries
// every peer and returns the errors of those it could not send to, joined
// (errors.Is(err, ErrDataChannelNotOpen) for channels not yet open).
func (r *Room) Broadcast(data []byte) error {
	if r.isEnded() {
		return ErrClosed
	}
	var errs []error
	for _, p := range r.Peers() {
		if err := p.Send(data); err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p.id, err))
		}
	}
	return errors.Join(errs...)
}

// Update changes this participant's name and media state; the others get
// peer_updated.
func (r *Room) Update(name string, st protocol.State) error {
	if len(name) > protocol.MaxDisplayNameLen {
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidConfig, protocol.MaxDisplayNameLen)
	}
	b, err := json.Marshal(protocol.Update{Type: protocol.TypeUpdate, Name: name, State: st})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return ErrClosed
	}
	r.self.Name, r.self.State = name, st
	r.out.push(outFrame{b: b})
	return nil
}

// Done returns a channel closed when the room ends for any reason: Close,
// server shutdown, network error, fatal server error.
func (r *Room) Done() <-chan struct{} { return r.done }

// Err returns why the room ended: nil while it is open and when Close ended
// it; otherwise an *Error for a fatal server error or refused resume, or an
// error wrapping ErrDisconnected or ErrServerTimeout.
func (r *Room) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close leaves the room: it sends leave, closes every PeerConnection and the
// WebSocket, and returns once every goroutine the room started has ended.
// It is idempotent and returns nil; it must not be called from a callback.
func (r *Room) Close() error {
	r.end(nil)
	r.wg.Wait()
	r.cancel()
	return nil
}

func (r *Room) isEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// end ends the room once: err is why, nil for Close. Close leaves: the
// writer sends leave and closes the WebSocket normally. Otherwise the
// connection is already gone (end is then called by the supervisor).
func (r *Room) end(err error) {
	r.endOnce.Do(func() {
		r.mu.Lock()
		r.ended = true
		r.err = err
		peers := make([]*Peer, 0, len(r.peers))
		for _, p := range r.peers {
			peers = append(peers, p)
		}
		r.mu.Unlock()
		if err != nil {
			r.log.Info("room ended", "err", err)
		}
		if r.dialer != nil {
			r.dialer.stop() // closing a PeerConnection waits for its TURN dials
		}
		for _, p := range peers {
			p.close()
		}
		if err == nil {
			r.leave()
		} else {
			r.cancel()
			r.connMu.Lock()
			if r.conn != nil {
				_ = r.conn.CloseNow()
			}
			r.connMu.Unlock()
			if r.cfg.OnDisconnect != nil {
				r.events.push(func() { r.cfg.OnDisconnect(err) })
			}
		}
		r.events.close()
		close(r.done)
	})
}

// updatePeer applies presence from the server and reports a change.
func (r *Room) updatePeer(p *Peer, part protocol.Participant) {
	r.mu.Lock()
	delete(r.unconfirmed, p.id)
	r.mu.Unlock()
	if p.setInfo(part) && r.cfg.OnPeerUpdated != nil {
		r.emit(func() { r.cfg.OnPeerUpdated(p) })
	}
}

// addPeer creates the peer for part and announces it.
func (r *Room) addPeer(part protocol.Participant, initiator bool) {
	r.mu.Lock()
	if r.ended || r.peers[part.ID] != nil || part.ID == r.self.ID {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	p, err := newPeer(r.env, r.self.ID, part, initiator)
	if err != nil {
		r.log.Error("create peer connection", "peer", part.ID, "err", err)
		return
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		p.close()
		return
	}
	r.peers[part.ID] = p
	r.mu.Unlock()
	p.start()
	r.emit(func() {
		if r.cfg.OnPeerJoined != nil {
			r.cfg.OnPeerJoined(p)
		}
		p.announce()
	})
}

// emit queues a callback for the event goroutine.
func (r *Room) emit(f func()) { r.events.push(f) }

func (r *Room) peerStateChanged(p *Peer) {
	if r.cfg.OnPeerConnectionState == nil {
		return
	}
	r.emit(func() {
		s := p.ConnectionState()
		if s != p.lastState {
			p.lastState = s
			r.cfg.OnPeerConnectionState(p, s)
		}
	})
}

// eventLoop delivers callbacks in order until the room ends and the queue
// is drained.
func (r *Room) eventLoop() {
	defer r.wg.Done()
	for {
		fs, closed := r.events.take()
		for _, f := range fs {
			f()
		}
		if closed && len(fs) == 0 {
			return
		}
		if len(fs) == 0 {
			<-r.events.wake
		}
	}
}

// sendRelay queues a relay frame to peer to.
func (r *Room) sendRelay(to, typ string, payload []byte) {
	b, err := json.Marshal(protocol.Envelope{Type: typ, To: to, Payload: payload})
	if err != nil {
		r.log.Warn("encode relay frame", "err", err)
		return
	}
	r.out.push(outFrame{b: b})
}

func hasTURN(servers []webrtc.ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}
