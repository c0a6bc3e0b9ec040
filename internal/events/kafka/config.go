// Package kafka is the Kafka transport of package events: a Sink that
// produces events to one topic and a Source that consumes it as a member
// of a consumer group, over franz-go. The same code serves Azure Event
// Hubs through its Kafka endpoint (see ParseURL and docs/events.md).
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// SASLPlain is the only SASL mechanism supported: it is what Event Hubs
// speaks (user "$ConnectionString", the connection string as password).
const SASLPlain = "PLAIN"

// Defaults for the zero values of Config, in one place.
const (
	DefaultClientID        = "sarissa"
	DefaultDialTimeout     = 10 * time.Second
	DefaultFetchMaxRecords = 500
	DefaultPartitions      = 4
)

// Config selects the brokers, topic and security of a Sink or Source. The
// zero values of the optional fields mean the defaults above.
type Config struct {
	// Brokers are the seed brokers, host:port each.
	Brokers []string
	// Topic carries the events (Event Hubs: the event hub).
	Topic string
	// Group is the consumer group; required by NewSource, unused by
	// NewSink.
	Group string
	// ClientID names the client to the brokers (their logs, quotas).
	ClientID string

	// TLS dials the brokers over TLS, verified against the system roots
	// plus TLSCAFile, if set.
	TLS                   bool
	TLSCAFile             string
	TLSInsecureSkipVerify bool

	// SASLMechanism is "" (none) or "PLAIN". The password is never logged
	// (String and LogValue redact it).
	SASLMechanism string
	SASLUser      string
	SASLPassword  string

	// DialTimeout bounds opening one connection.
	DialTimeout time.Duration
	// FetchMaxRecords bounds the messages one Fetch returns.
	FetchMaxRecords int

	// CreateTopic creates Topic with Partitions partitions and
	// ReplicationFactor replicas (0: the broker's default) when the
	// constructor runs, if it does not exist. For development and tests;
	// production topics (and event hubs) are provisioned by their owners.
	CreateTopic       bool
	Partitions        int32
	ReplicationFactor int16
}

// withDefaults returns c with the zero values of optional fields filled.
func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.FetchMaxRecords == 0 {
		c.FetchMaxRecords = DefaultFetchMaxRecords
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	c.SASLMechanism = strings.ToUpper(c.SASLMechanism)
	return c
}

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka config: no brokers")
	}
	eventHubs := false
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("kafka config: broker %q: want host:port: %w", b, err)
		}
		if host == "" {
			return fmt.Errorf("kafka config: broker %q: empty host", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("kafka config: broker %q: port %q is not 1..65535", b, port)
		}
		if strings.HasSuffix(strings.ToLower(host), ".servicebus.windows.net") {
			eventHubs = true
		}
	}
	if err := validTopic(c.Topic); err != nil {
		return fmt.Errorf("kafka config: topic %q: %w", c.Topic, err)
	}
	if !c.TLS && (c.TLSCAFile != "" || c.TLSInsecureSkipVerify) {
		return errors.New("kafka config: a TLS CA file or skip-verify is set but TLS is off")
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
		if c.SASLUser != "" || c.SASLPassword != "" {
			return errors.New("kafka config: a SASL user or password is set but no SASL mechanism (want PLAIN)")
		}
	case SASLPlain:
		if c.SASLUser == "" {
			return errors.New("kafka config: SASL PLAIN needs a user")
		}
		if c.SASLPassword == "" {
			return errors.New("kafka config: SASL PLAIN needs a password")
		}
	default:
		return fmt.Errorf("kafka config: SASL mechanism %q is not supported (want PLAIN or none)", c.SASLMechanism)
	}
	if eventHubs && (!c.TLS || c.SASLMechanism == "") {
		return errors.New("kafka config: Event Hubs (*.servicebus.windows.net) needs TLS and SASL PLAIN (user $ConnectionString, password the connection string)")
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("kafka config: dial timeout %v is negative", c.DialTimeout)
	}
	if c.FetchMaxRecords < 0 {
		return fmt.Errorf("kafka config: fetch max records %d is negative", c.FetchMaxRecords)
	}
	if c.Partitions < 0 {
		return fmt.Errorf("kafka config: partitions %d is negative", c.Partitions)
	}
	if c.ReplicationFactor < 0 {
		return fmt.Errorf("kafka config: replication factor %d is negative", c.ReplicationFactor)
	}
	return nil
}

// validTopic applies Kafka's rule for topic names.
func validTopic(t string) error {
	if t == "" {
		return errors.New("empty")
	}
	if len(t) > 249 {
		return errors.New("longer than 249 characters")
	}
	if t == "." || t == ".." {
		return errors.New("not a valid name")
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q (want letters, digits, '.', '_' and '-')", r)
		}
	}
	return nil
}

// String describes c with the password redacted, so that printing a
// Config can never leak it.
func (c Config) String() string {
	pw := ""
	if c.SASLPassword != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("kafka{brokers=%s topic=%s group=%s client_id=%s tls=%t ca_file=%s tls_insecure_skip_verify=%t sasl=%s user=%s password=%s}",
		strings.Join(c.Brokers, ","), c.Topic, c.Group, c.ClientID, c.TLS, c.TLSCAFile, c.TLSInsecureSkipVerify, c.SASLMechanism, c.SASLUser, pw)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue logs c without the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.String("topic", c.Topic),
		slog.String("group", c.Group),
		slog.Bool("tls", c.TLS),
		slog.String("sasl", c.SASLMechanism),
		slog.String("user", c.SASLUser),
	)
}

// ParseURL parses the flag form of a Config:
//
//	kafka://host:port[,host:port...]/topic?group=G&tls=true&ca_file=F&sasl=plain&user=U&password_env=NAME
//
// Other query keys: client_id, tls_insecure_skip_verify, dial_timeout (a
// Go duration), fetch_max_records, create_topic, partitions,
// replication_factor. Unknown keys are errors, so that a typo does not
// silently turn TLS off.
//
// The password is read from the environment variable named by
// password_env, through getenv; a password in the URL (a password= key or
// user:password@ before the host) is refused, so that it never lands in
// shell history, process listings or logs.
//
// Event Hubs, with the namespace connection string in $EVENTHUBS_CONN:
//
//	kafka://NAMESPACE.servicebus.windows.net:9093/HUB?group=G&tls=true&sasl=plain&user=$ConnectionString&password_env=EVENTHUBS_CONN
//
// The '$' may stay literal in the query (or be written %24); quote the URL
// in a shell so that the shell does not expand $ConnectionString. A '+'
// in a query value means a space, as in any URL query.
func ParseURL(u string, getenv func(string) string) (Config, error) {
	var c Config
	rest, ok := strings.CutPrefix(u, "kafka://")
	if !ok {
		return c, errors.New("kafka url: want kafka://host:port[,host:port...]/topic[?key=value...]")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, topic, ok := strings.Cut(rest, "/")
	if !ok {
		return c, errors.New("kafka url: no /topic after the brokers")
	}
	if strings.Contains(hosts, "@") {
		return c, errors.New("kafka url: credentials before the host are not accepted; use user= and password_env=")
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.Brokers = append(c.Brokers, h)
		}
	}
	topic, err := url.PathUnescape(topic)
	if err != nil {
		return c, fmt.Errorf("kafka url: topic: %w", err)
	}
	c.Topic = topic

	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return c, fmt.Errorf("kafka url: query: %w", err)
	}
	passwordEnv := ""
	for key, vals := range q {
		if len(vals) != 1 {
			return c, fmt.Errorf("kafka url: %s given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "group":
			c.Group = v
		case "client_id":
			c.ClientID = v
		case "tls":
			c.TLS, err = parseBool(key, v)
		case "ca_file":
			c.TLSCAFile = v
		case "tls_insecure_skip_verify":
			c.TLSInsecureSkipVerify, err = parseBool(key, v)
		case "sasl":
			c.SASLMechanism = strings.ToUpper(v)
		case "user":
			c.SASLUser = v
		case "password_env":
			passwordEnv = v
		case "password":
			return c, errors.New("kafka url: the password is never read from the URL; put it in an environment variable and name it with password_env=")
		case "dial_timeout":
			c.DialTimeout, err = time.ParseDuration(v)
			if err != nil {
				err = fmt.Errorf("dial_timeout %q: %w", v, err)
			}
		case "fetch_max_records":
			c.FetchMaxRecords, err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("fetch_max_records %q: %w", v, err)
			}
		case "create_topic":
			c.CreateTopic, err = parseBool(key, v)
		case "partitions":
			var n int64
			n, err = strconv.ParseInt(v, 10, 32)
			c.Partitions = int32(n)
			if err != nil {
				err = fmt.Errorf("partitions %q: %w", v, err)
			}
		case "replication_factor":
			var n int64
			n, err = strconv.ParseInt(v, 10, 16)
			c.ReplicationFactor = int16(n)
			if err != nil {
				err = fmt.Errorf("replication_factor %q: %w", v, err)
			}
		default:
			return c, fmt.Errorf("kafka url: unknown key %q", key)
		}
		if err != nil {
			return c, fmt.Errorf("kafka url: %w", err)
		}
	}
	if passwordEnv != "" {
		if getenv == nil {
			getenv = os.Getenv
		}
		c.SASLPassword = getenv(passwordEnv)
		if c.SASLPassword == "" {
			return c, fmt.Errorf("kafka url: environment variable %s (password_env) is empty or unset", passwordEnv)
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("kafka url: %w", err)
	}
	return c, nil
}

func parseBool(key, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q is not a boolean", key, v)
	}
	return b, nil
}

// Deps are a Sink's or Source's collaborators. Zero values are valid: a
// nil Logger discards, a nil Registerer registers nothing.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// clientOpts are the franz-go options common to producing and consuming.
// c has its defaults filled.
func (c Config) clientOpts(log *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.DialTimeout),
		kgo.WithLogger(kgoLogger{log}),
	}
	if c.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASLMechanism == SASLPlain {
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	}
	return opts, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Only when asked for, for development brokers with throwaway
		// certificates; Validate refuses it without TLS.
		InsecureSkipVerify: c.TLSInsecureSkipVerify, //nolint:gosec // opt-in, documented
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: read TLS CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// connErrors remembers the last error opening a broker connection (dial,
// TLS handshake, SASL), so that a Publish that times out can say why
// instead of only "context deadline exceeded": franz-go retries those
// errors until the caller's ctx ends.
type connErrors struct{ last atomic.Pointer[error] }

var _ kgo.HookBrokerConnect = (*connErrors)(nil)

func (c *connErrors) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		c.last.Store(nil)
		return
	}
	c.last.Store(&err)
}

// explain adds the last connection error to err, if there is one.
func (c *connErrors) explain(err error) error {
	if last := c.last.Load(); last != nil {
		return fmt.Errorf("%w (last broker connection error: %v)", err, *last)
	}
	return err
}

// kgoLogger forwards franz-go's warnings and errors to slog. Its info and
// debug levels narrate every request, too much for a service log. franz-go
// does not log SASL credentials.
type kgoLogger struct{ l *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	// franz-go passes no context with its log lines.
	k.l.Log(context.Background(), lvl, "kafka client: "+msg, keyvals...)
}
