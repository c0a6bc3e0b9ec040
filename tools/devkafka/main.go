// Command devkafka runs a fake Kafka broker (kfake, in-process, one node)
// for development: the query node and the agent talk to it as to Kafka,
// optionally with SASL PLAIN and TLS to mimic Event Hubs.
//
//	go run ./tools/devkafka --listen 127.0.0.1:9092 [--topic sarissa-events] [--partitions 4]
//	    [--sasl-user U --sasl-password-env ENV] [--tls-cert F --tls-key F] [--data-dir DIR]
//
// Once the broker answers and the topic exists it prints one line to
// stdout, "devkafka listening on HOST:PORT", and runs until SIGINT or
// SIGTERM. kfake is a test fake: do not keep data you care about in it.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sarissa-db/sarissa/internal/events/kafka"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
}

type options struct {
	listen          string
	topic           string
	partitions      int
	saslUser        string
	saslPasswordEnv string
	tlsCert         string
	tlsKey          string
	dataDir         string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9092", "address to listen on and advertise (host:port; port 0 picks one)")
	fs.StringVar(&o.topic, "topic", "sarissa-events", "topic to create")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the topic")
	fs.StringVar(&o.saslUser, "sasl-user", "", "require SASL PLAIN with this user (Event Hubs: $ConnectionString)")
	fs.StringVar(&o.saslPasswordEnv, "sasl-password-env", "", "environment variable holding the SASL password")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve TLS with this PEM certificate")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&o.dataDir, "data-dir", "", "keep the broker's state in this directory across restarts")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return o, fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	if o.partitions < 1 {
		return o, fmt.Errorf("--partitions %d: want at least 1", o.partitions)
	}
	if (o.saslUser == "") != (o.saslPasswordEnv == "") {
		return o, errors.New("--sasl-user and --sasl-password-env go together")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together")
	}
	return o, nil
}

// run starts the broker, ensures the topic, prints the ready line to
// stdout and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	password := ""
	if o.saslUser != "" {
		if password = getenv(o.saslPasswordEnv); password == "" {
			return fmt.Errorf("environment variable %s (--sasl-password-env) is empty or unset", o.saslPasswordEnv)
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(o.partitions), o.topic),
		kfake.WithLogger(kfake.BasicLogger(stderr, kfake.LogLevelError)),
		// kfake listens on 127.0.0.1:<port>; listen where asked instead.
		// The broker advertises the listener's address, so clients must
		// be able to reach it there.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, o.listen)
		}),
	}
	if o.saslUser != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser("PLAIN", o.saslUser, password))
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	if o.dataDir != "" {
		opts = append(opts, kfake.DataDir(o.dataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", o.listen, err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	// Seeding applies to a fresh broker only; state loaded from --data-dir
	// keeps its own topics. Creating the topic through a client covers
	// both, and proves the broker answers before we say it is ready.
	cfg := kafka.Config{
		Brokers:     []string{addr},
		Topic:       o.topic,
		ClientID:    "devkafka",
		CreateTopic: true,
		Partitions:  int32(o.partitions),
		// We are talking to ourselves; the certificate may name another
		// host than the listen address.
		TLS:                   o.tlsCert != "",
		TLSInsecureSkipVerify: o.tlsCert != "",
	}
	if o.saslUser != "" {
		cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = kafka.SASLPlain, o.saslUser, password
	}
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sink, err := kafka.NewSink(readyCtx, cfg, kafka.Deps{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", o.topic, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close setup client: %w", err)
	}

	if _, err := fmt.Fprintf(stdout, "devkafka listening on %s\n", addr); err != nil {
		return fmt.Errorf("write ready line: %w", err)
	}
	<-ctx.Done()
	return nil
}
