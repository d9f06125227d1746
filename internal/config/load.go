package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix prefixes the environment twin of every flag: --turn-secret is
// PEERCALL_TURN_SECRET.
const EnvPrefix = "PEERCALL_"

// option binds one setting to its flag, environment variable and field.
type option struct {
	name  string
	usage string
	field func(*Config) any // pointer to the field
}

var options = []option{
	{"listen", "HTTP listen address (web app, signaling, /healthz, /metrics)", func(c *Config) any { return &c.Listen }},
	{"metrics-listen", `where /metrics is served: "" on the main listener (default), "off" nowhere, or its own address such as 127.0.0.1:9090 (plain HTTP; then not on the main listener)`, func(c *Config) any { return &c.MetricsListen }},
	{"turn-listen", `STUN/TURN listen address, UDP and TCP on one port; "off" disables the embedded server`, func(c *Config) any { return &c.TURNListen }},
	{"turns-listen", "also serve TURN over TLS (turns:) on this TCP address, e.g. :443 on its own IP; uses the HTTPS certificate", func(c *Config) any { return &c.TURNSListen }},
	{"turn-public-ip", "IP address advertised for relay candidates and in ICE server URLs (default: the host clients reached the server at)", func(c *Config) any { return &c.TURNPublicIP }},
	{"turn-secret", "shared secret for time-limited TURN REST credentials, coturn compatible (default: random at each start)", func(c *Config) any { return &c.TURNSecret }},
	{"turn-allow-loopback", "let the TURN relay reach loopback peers (development and tests only)", func(c *Config) any { return &c.TURNAllowLoopback }},
	{"ice-server", "external STUN/TURN URL to hand out, repeatable (turn:USER:PASS@host:port?transport=udp); env: comma-separated", func(c *Config) any { return &c.ICEServers }},
	{"max-participants", "participants per room (full mesh)", func(c *Config) any { return &c.MaxParticipants }},
	{"web-dir", "serve the web app from this directory instead of the embedded copy (development)", func(c *Config) any { return &c.WebDir }},
	{"ping-interval", "keepalive interval clients must ping at; silent for 3 intervals means dead", func(c *Config) any { return &c.PingInterval }},
	{"max-message-bytes", "largest signaling message accepted", func(c *Config) any { return &c.MaxMessageBytes }},
	{"log-level", "debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"allowed-origin", "let pages on this other site open the signaling socket (host pattern, e.g. app.example.com or *.example.com), repeatable; same-origin is always allowed", func(c *Config) any { return &c.AllowedOrigins }},
	{"message-rate", "signaling frames per second allowed per connection", func(c *Config) any { return &c.MessageRate }},
	{"message-burst", "signaling frames a connection may send in a burst", func(c *Config) any { return &c.MessageBurst }},
	{"max-conns-per-ip", "open signaling connections per client address (-1: unlimited)", func(c *Config) any { return &c.MaxConnsPerIP }},
	{"joins-per-ip-per-minute", "joins per client address per minute (-1: unlimited)", func(c *Config) any { return &c.JoinsPerIPPerMinute }},
	{"trusted-proxies", "IP addresses or CIDR prefixes of your reverse proxies/load balancers, comma-separated or repeated: for requests from them the client address is taken from X-Forwarded-For (default none: the header is ignored)", func(c *Config) any { return &c.TrustedProxies }},
	{"max-rooms", "rooms on this server (-1: unlimited)", func(c *Config) any { return &c.MaxRooms }},
	{"max-total-participants", "participants on this server (-1: unlimited)", func(c *Config) any { return &c.MaxTotalParticipants }},
	{"tls-cert", "serve HTTPS with this PEM certificate (with --tls-key)", func(c *Config) any { return &c.TLSCert }},
	{"tls-key", "PEM private key for --tls-cert", func(c *Config) any { return &c.TLSKey }},
	{"acme-domain", "get certificates automatically (ACME, TLS-ALPN-01) for this public domain, repeatable; listen on :443", func(c *Config) any { return &c.ACMEDomains }},
	{"acme-email", "contact address for the ACME account", func(c *Config) any { return &c.ACMEEmail }},
	{"acme-cache", "directory for ACME certificates", func(c *Config) any { return &c.ACMECache }},
	{"tls-self-signed", "serve HTTPS with a certificate generated at start (LAN testing: browsers need HTTPS for cameras off localhost)", func(c *Config) any { return &c.TLSSelfSigned }},
	{"frame-ancestor", "a site allowed to embed the web app in a frame (CSP source, e.g. https://app.example.com), repeatable; default: own pages only", func(c *Config) any { return &c.FrameAncestors }},
	{"api-key", "KEY:SECRET for signing access tokens, repeatable; any key turns on token mode (every join needs a token); env: comma-separated", func(c *Config) any { return &c.APIKeys }},
	{"resume-grace", "how long a dropped participant may resume before the room is told it left", func(c *Config) any { return &c.ResumeGrace }},
	{"session-secret", "secret signing resume tokens; share it across restarts so clients keep their identity (default: random at each start)", func(c *Config) any { return &c.SessionSecret }},
	{"redis", "cluster mode: share rooms with other nodes through this Redis, redis://[:PASSWORD@]HOST:PORT/DB, or through Redis Sentinel: redis://SENTINEL:26379/DB?master_name=NAME[&addr=SENTINEL2:26379][&password=MASTERPASSWORD] (needs --session-secret and --turn-secret, the same on every node)", func(c *Config) any { return &c.Redis }},
	{"node-id", "this node's name in a cluster, for logs and metrics (default: random)", func(c *Config) any { return &c.NodeID }},
	{"redis-prefix", `start of every Redis key and channel of the cluster, so that clusters can share a Redis (default "peercall:")`, func(c *Config) any { return &c.RedisPrefix }},
}

// commaFlags are list flags that also take comma-separated values on the
// command line (the environment always does): --trusted-proxies a,b equals
// --trusted-proxies a --trusted-proxies b.
var commaFlags = map[string]bool{"trusted-proxies": true}

// EnvName returns the environment twin of a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load builds the configuration for peercall serve from, in increasing
// precedence: Default(), the YAML file named by --config (or
// PEERCALL_CONFIG), PEERCALL_* environment variables, and the flags in args.
// Unknown YAML keys are errors. The result is validated.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var fromFlags Config
	for _, o := range options {
		def := Default()
		fv := value(o.field(&fromFlags))
		if commaFlags[o.name] {
			fv = (*commaListValue)(o.field(&fromFlags).(*[]string))
		}
		fs.Var(fv, o.name, o.usage+defaultNote(o.field(&def))+" [env "+EnvName(o.name)+"]")
	}
	configPath := fs.String("config", "", "YAML configuration file (keys as in config-sample.yaml) [env "+EnvPrefix+"CONFIG]")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := Default()
	path := *configPath
	if path == "" {
		path = getenv(EnvPrefix + "CONFIG")
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		if err := DecodeYAML(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	for _, o := range options {
		env := EnvName(o.name)
		v := getenv(env)
		if v == "" {
			continue
		}
		if list, ok := o.field(&cfg).(*[]string); ok {
			*list = splitList(v)
			continue
		}
		if err := value(o.field(&cfg)).Set(v); err != nil {
			return Config{}, fmt.Errorf("%s=%q: %w", env, v, err)
		}
	}
	for _, o := range options {
		if set[o.name] {
			copyField(o.field(&cfg), o.field(&fromFlags))
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// DecodeYAML decodes a YAML configuration over cfg, rejecting unknown keys.
func DecodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func defaultNote(p any) string {
	switch v := p.(type) {
	case *string:
		if *v != "" {
			return fmt.Sprintf(" (default %q)", *v)
		}
	case *int:
		return fmt.Sprintf(" (default %d)", *v)
	case *time.Duration:
		return fmt.Sprintf(" (default %v)", *v)
	}
	return ""
}

func copyField(dst, src any) {
	switch d := dst.(type) {
	case *string:
		*d = *src.(*string)
	case *int:
		*d = *src.(*int)
	case *bool:
		*d = *src.(*bool)
	case *time.Duration:
		*d = *src.(*time.Duration)
	case *[]string:
		*d = append([]string(nil), *src.(*[]string)...)
	default:
		panic(fmt.Sprintf("config: no copy for %T", dst))
	}
}

// value adapts a field pointer to flag.Value.
func value(p any) flag.Value {
	switch v := p.(type) {
	case *string:
		return (*stringValue)(v)
	case *int:
		return (*intValue)(v)
	case *bool:
		return (*boolValue)(v)
	case *time.Duration:
		return (*durationValue)(v)
	case *[]string:
		return (*listValue)(v)
	}
	panic(fmt.Sprintf("config: no flag.Value for %T", p))
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string {
	if s == nil {
		return ""
	}
	return string(*s)
}

type intValue int

func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*i = intValue(n)
	return nil
}
func (i *intValue) String() string {
	if i == nil {
		return "0"
	}
	return strconv.Itoa(int(*i))
}

type boolValue bool

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(b != nil && bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 5s", v)
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}

type listValue []string

func (l *listValue) Set(v string) error { *l = append(*l, v); return nil }
func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// commaListValue is a listValue whose every use may add several
// comma-separated entries.
type commaListValue []string

func (l *commaListValue) Set(v string) error { *l = append(*l, splitList(v)...); return nil }
func (l *commaListValue) String() string     { return (*listValue)(l).String() }
