package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/internal/turnserver"
)

// turnServerConfig configures role "server" (stdin).
type turnServerConfig struct {
	Mode   string `json:"mode"` // turnPeercall, turnPionPath or turnPionDefault
	Listen string `json:"listen"`
	Secret string `json:"secret"`
	Realm  string `json:"realm"`
}

// turnServerModes say how role "server" runs each server, for the report.
var turnServerModes = map[string]string{
	turnPeercall:    "internal/turnserver as peercall serve configures it (bench turn, role server): SO_REUSEPORT sockets, one per CPU, 4 MiB buffers, batched fast path",
	turnPionPath:    "internal/turnserver with PionDataPath: the same sockets and buffers, pion/turn's per-packet forwarding (bench turn, role server)",
	turnPionDefault: "pion/turn v5 turn.NewServer with one UDP socket from net.ListenPacket, default buffers, RelayAddressGeneratorStatic, LongTermTURNRESTAuthHandler (bench turn, role server)",
}

// runTurnServerRole runs a TURN server until SIGTERM or ctx ends.
func runTurnServerRole(ctx context.Context, stderr io.Writer) error {
	var cfg turnServerConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		return fmt.Errorf("config on stdin: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	var closeFn func() error
	switch cfg.Mode {
	case turnPeercall, turnPionPath:
		s, err := turnserver.New(turnserver.Config{
			ListenAddr:    cfg.Listen,
			Secret:        cfg.Secret,
			Realm:         cfg.Realm,
			AllowLoopback: true,
			PionDataPath:  cfg.Mode == turnPionPath,
			Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return err
		}
		closeFn = s.Close
	case turnPionDefault:
		udp, err := net.ListenPacket("udp4", cfg.Listen) //nolint:noctx
		if err != nil {
			return err
		}
		tcp, err := net.Listen("tcp4", cfg.Listen) //nolint:noctx
		if err != nil {
			udp.Close()
			return err
		}
		lf := logging.NewDefaultLoggerFactory()
		lf.DefaultLogLevel = logging.LogLevelWarn
		lf.Writer = stderr
		gen := func() turn.RelayAddressGenerator {
			return &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
		}
		s, err := turn.NewServer(turn.ServerConfig{
			Realm:             cfg.Realm,
			AuthHandler:       turn.LongTermTURNRESTAuthHandler(cfg.Secret, lf.NewLogger("auth")),
			LoggerFactory:     lf,
			PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen()}},
			ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: gen()}},
		})
		if err != nil {
			udp.Close()
			tcp.Close()
			return err
		}
		closeFn = s.Close
	default:
		return fmt.Errorf("unknown server mode %q", cfg.Mode)
	}
	if path := os.Getenv(envTurnCPUProfile); path != "" {
		// A CPU profile of the whole run, for finding where the server's
		// time goes (not used by the suite itself).
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	<-ctx.Done()
	return closeFn()
}

// envTurnCPUProfile names a file that role "server" writes a CPU profile
// of its whole run to.
const envTurnCPUProfile = "PEERCALL_BENCH_TURN_CPUPROFILE"
