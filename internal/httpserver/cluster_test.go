package httpserver_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

func TestAClusterNodeReportsItsRedisInHealthAndMetrics(t *testing.T) {
	r := redistest.Start(t)
	srv := servertest.Start(t, func(c *config.Config) {
		c.Redis, c.NodeID = r.URL(), "eu-1"
		c.SessionSecret, c.TURNSecret = "health-test-session-secret", "health-test-turn-secret"
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, body := get(t, srv.URL+"/healthz")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"node":"eu-1"`) || !strings.Contains(body, `"nodes":1`) {
			return fmt.Errorf("healthz %d %s", resp.StatusCode, body)
		}
		return nil
	})
	_, metrics := get(t, srv.URL+"/metrics")
	for _, m := range []string{`peercall_cluster_node_info{node="eu-1"} 1`, "peercall_cluster_redis_up 1", "peercall_cluster_nodes 1",
		"peercall_cluster_redis_rtt_seconds", "peercall_cluster_redis_commands_total", "peercall_cluster_redis_errors_total"} {
		if !strings.Contains(metrics, m) {
			t.Fatalf("metrics lack %q", m)
		}
	}

	r.Stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, body := get(t, srv.URL+"/healthz")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, `"problem":`) {
			return fmt.Errorf("healthz %d %s", resp.StatusCode, body)
		}
		if _, m := get(t, srv.URL+"/metrics"); !strings.Contains(m, "peercall_cluster_redis_up 0") {
			return errors.New("redis_up is not 0")
		}
		return nil
	})
	r.Restart(t)
	testutil.Eventually(t, 10*time.Second, func() error {
		if resp, body := get(t, srv.URL+"/healthz"); resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d %s", resp.StatusCode, body)
		}
		return nil
	})
}
