package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/peercall/peercall/internal/room"
	peersignal "github.com/peercall/peercall/internal/signal"
	"github.com/peercall/peercall/protocol"
)

// runSignalServer is the internal-signal-server subcommand: peercall's
// signaling transport and in-memory room backend, as peercall serve wires
// them, on /ws, with the per-connection message rate limit and the
// per-address limits lifted. The relay
// workload needs that (peercall serve allows 50 frames/s per connection);
// tests use it to need no peercall binary.
//
// With --profile-dir, SIGUSR1 writes heap and goroutine profiles there, and
// SIGUSR2 starts and stops a CPU profile.
func runSignalServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("internal-signal-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	maxP := fs.Int("max-participants", 2, "participants per room")
	rate := fs.Float64("message-rate", 1e6, "frames per second per connection")
	profDir := fs.String("profile-dir", "", "write heap and goroutine profiles here on SIGUSR1; SIGUSR2 starts and stops a CPU profile")
	memRate := fs.Int("mem-profile-rate", 0, "runtime.MemProfileRate (0: the default, 512 KiB; 1: every allocation)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "bench internal-signal-server: %v\n", err)
		return 1
	}
	backend := room.NewLocal(room.LocalOptions{MaxParticipants: *maxP, MaxRooms: -1, MaxTotalParticipants: -1})
	sig := peersignal.NewServer(peersignal.Options{
		Backend:         backend,
		MaxParticipants: *maxP,
		MessageRate:     *rate,
		MessageBurst:    int(max(*rate, 200)),
		// Every load-generator connection comes from 127.0.0.1.
		MaxConnsPerIP:       -1,
		JoinsPerIPPerMinute: -1,
	})
	mux := http.NewServeMux()
	mux.Handle(protocol.Path, sig)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if *profDir != "" {
		usr := make(chan os.Signal, 1)
		signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
		go func() {
			var cpu *os.File
			for n := 0; ; n++ {
				switch <-usr {
				case syscall.SIGUSR1:
					writeProfiles(*profDir, n, stderr)
				case syscall.SIGUSR2:
					if cpu == nil {
						cpu, _ = os.Create(fmt.Sprintf("%s/cpu-%d.pprof", *profDir, n))
						pprof.StartCPUProfile(cpu)
					} else {
						pprof.StopCPUProfile()
						cpu.Close()
						cpu = nil
					}
				}
			}
		}()
	}
	fmt.Fprintf(stdout, "signaling on ws://%s%s\n", ln.Addr(), protocol.Path)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-term:
	case err := <-errc:
		fmt.Fprintf(stderr, "bench internal-signal-server: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	sig.Shutdown(sctx)
	hs.Shutdown(sctx)
	return 0
}

func writeProfiles(dir string, n int, stderr io.Writer) {
	runtime.GC()
	for _, name := range []string{"heap", "goroutine"} {
		path := fmt.Sprintf("%s/%s-%d.pprof", dir, name, n)
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(stderr, "profile: %v\n", err)
			continue
		}
		pprof.Lookup(name).WriteTo(f, 0)
		f.Close()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(stderr, "profile %d: goroutines %d, heap in use %d KiB (live objects %d KiB in %d), stacks in use %d KiB, sys %d KiB\n",
		n, runtime.NumGoroutine(), ms.HeapInuse>>10, ms.HeapAlloc>>10, ms.HeapObjects, ms.StackInuse>>10, ms.Sys>>10)
}
