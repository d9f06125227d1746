package turnserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/peercall/peercall/internal/turnserver"
)

func ExampleNew() {
	srv, err := turnserver.New(turnserver.Config{
		ListenAddr: "127.0.0.1:0", // a free port, the same for UDP and TCP
		Secret:     "shared-with-coturn",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// In the HTTP handler that answers a join: the host the client used,
	// and the participant the credentials are for.
	servers, expires := srv.ICEServers("127.0.0.1", "participant-1")
	port := strconv.Itoa(srv.UDPAddr().Port)
	for _, s := range servers {
		for _, u := range s.URLs {
			fmt.Println(strings.Replace(u, port, "PORT", 1), s.Username != "")
		}
	}
	fmt.Println(time.Until(expires) > 11*time.Hour)
	// Output:
	// stun:127.0.0.1:PORT false
	// turn:127.0.0.1:PORT?transport=udp true
	// turn:127.0.0.1:PORT?transport=tcp true
	// true
}

func ExampleRESTCredentials() {
	// Mint credentials for any TURN server run with
	// --use-auth-secret --static-auth-secret s3cret (coturn or peercall).
	username, password := turnserver.RESTCredentials("s3cret", "alice", time.Unix(1800003600, 0))
	fmt.Println(username, password)
	// Output: 1800003600:alice sokJQCcz4nb7fsH24IippwXdVAU=
}
