package kafka

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseURL(t *testing.T) {
	conn := "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc+/="
	tests := []struct {
		name string
		url  string
		env  func(string) string
		want Config
	}{
		{
			name: "plain",
			url:  "kafka://127.0.0.1:9092/sarissa-events?group=agent",
			want: Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "sarissa-events", Group: "agent"},
		},
		{
			name: "several brokers and every key",
			url: "kafka://k1:9092,k2:9093/events?group=g&client_id=q0&tls=true&ca_file=/etc/ca.pem&tls_insecure_skip_verify=false" +
				"&sasl=plain&user=u&password_env=PW&dial_timeout=3s&fetch_max_records=50&create_topic=true&partitions=6&replication_factor=3",
			env: env("PW", "secret"),
			want: Config{
				Brokers: []string{"k1:9092", "k2:9093"}, Topic: "events", Group: "g", ClientID: "q0",
				TLS: true, TLSCAFile: "/etc/ca.pem", SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "secret",
				DialTimeout: 3 * time.Second, FetchMaxRecords: 50, CreateTopic: true, Partitions: 6, ReplicationFactor: 3,
			},
		},
		{
			name: "event hubs, literal $",
			url:  "kafka://ns.servicebus.windows.net:9093/hub?group=agent&tls=true&sasl=plain&user=$ConnectionString&password_env=EH",
			env:  env("EH", conn),
			want: Config{
				Brokers: []string{"ns.servicebus.windows.net:9093"}, Topic: "hub", Group: "agent",
				TLS: true, SASLMechanism: "PLAIN", SASLUser: "$ConnectionString", SASLPassword: conn,
			},
		},
		{
			name: "event hubs, escaped $",
			url:  "kafka://ns.servicebus.windows.net:9093/hub?tls=true&sasl=PLAIN&user=%24ConnectionString&password_env=EH",
			env:  env("EH", conn),
			want: Config{
				Brokers: []string{"ns.servicebus.windows.net:9093"}, Topic: "hub",
				TLS: true, SASLMechanism: "PLAIN", SASLUser: "$ConnectionString", SASLPassword: conn,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURL(tc.url, tc.env)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseURL:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url, env, want string
	}{
		{"http://h:1/t", "", "want kafka://"},
		{"kafka://h:1", "", "no /topic"},
		{"kafka://h:1/", "", `topic "": empty`},
		{"kafka://h:1/a/b", "", `character '/'`},
		{"kafka://u:pw@h:1/t", "", "credentials before the host"},
		{"kafka://h:1/t?password=x", "", "never read from the URL"},
		{"kafka://h:1/t?sasl=plain&user=u&password_env=MISSING", "", "MISSING (password_env) is empty or unset"},
		{"kafka://h:1/t?sasl=plain&password_env=PW", "x", "SASL PLAIN needs a user"},
		{"kafka://h:1/t?sasl=scram-sha-256&user=u&password_env=PW", "x", `"SCRAM-SHA-256" is not supported`},
		{"kafka://h:1/t?user=u", "", "no SASL mechanism"},
		{"kafka://h:1/t?tls=yes", "", `tls "yes" is not a boolean`},
		{"kafka://h:1/t?ca_file=/x", "", "TLS is off"},
		{"kafka://h:1/t?tsl=true", "", `unknown key "tsl"`},
		{"kafka://h:1/t?group=a&group=b", "", "group given 2 times"},
		{"kafka://h/t", "", `broker "h": want host:port`},
		{"kafka://h:0/t", "", `port "0" is not 1..65535`},
		{"kafka://h:1/t?dial_timeout=3", "", "dial_timeout"},
		{"kafka://h:1/t?partitions=x", "", "partitions"},
		{"kafka://ns.servicebus.windows.net:9093/hub", "", "Event Hubs (*.servicebus.windows.net) needs TLS and SASL PLAIN"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := ParseURL(tc.url, env("PW", tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.url, err, tc.want)
			}
		})
	}
}

func TestValidateDefaultsAreValid(t *testing.T) {
	c := Config{Brokers: []string{"h:9092"}, Topic: "t"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.withDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if d.ClientID != DefaultClientID || d.DialTimeout != DefaultDialTimeout || d.FetchMaxRecords != DefaultFetchMaxRecords || d.Partitions != DefaultPartitions {
		t.Errorf("withDefaults = %+v", d)
	}
	for _, bad := range []Config{
		{Brokers: []string{"h:1"}, Topic: "t", DialTimeout: -1},
		{Brokers: []string{"h:1"}, Topic: "t", FetchMaxRecords: -1},
		{Brokers: []string{"h:1"}, Topic: "t", Partitions: -1},
		{Brokers: []string{"h:1"}, Topic: strings.Repeat("x", 250)},
		{Topic: "t"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%v) = nil", bad)
		}
	}
}

// Printing or logging a Config never shows the password.
func TestConfigRedactsPassword(t *testing.T) {
	c := Config{Brokers: []string{"h:1"}, Topic: "t", SASLMechanism: "PLAIN", SASLUser: "$ConnectionString", SASLPassword: "s3cret-key"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "kafka", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), b.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("password leaked: %s", s)
		}
	}
	if !strings.Contains(c.String(), "<redacted>") {
		t.Errorf("String = %s, want the password shown as redacted", c.String())
	}
}
