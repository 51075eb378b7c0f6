// jetscale-go-consumer: a JetStream pull consumer written the way nats.go users write one, with
// the library's default settings, for the real-client matrix (operator/test/real-clients).
// PULL_MODE=consume uses jetstream Consume() with no options (500 messages buffered per
// subscriber, refilled below half); PULL_MODE=fetch loops over Fetch(FETCH_BATCH); PULL_MODE=push
// binds the older push API to a push consumer with a deliver group: nats.go's js.QueueSubscribe()
// with manual acks, where the server sends up to max_ack_pending messages ahead, shared among the
// group's subscribers at random whether they are busy or not. Each message is handled one at a
// time: sleep HANDLER_MS (the work), then ack. SIGTERM stops receiving, finishes what is in hand,
// drains the connection and exits 0.
//
// Configuration (environment): NATS_URL, STREAM, CONSUMER (required); PULL_MODE (consume |
// fetch | push, default consume); FETCH_BATCH (default 10); PULL_MAX_MESSAGES (consume only: the
// buffer Consume() keeps, default nats.go's 500; 1000 is NATS.Net's ConsumeAsync default);
// HANDLER_MS (default 10).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// sourceHash is set by hack/tools.sh (-ldflags -X) so a stale binary is rebuilt.
var sourceHash = "dev"

type config struct {
	natsURL     string
	stream      string
	consumer    string
	mode        string
	fetchBatch  int
	maxMessages int
	handler     time.Duration
}

var name = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// loadConfig validates every variable and reports all problems at once.
func loadConfig(env func(string) string) (config, []string) {
	var problems []string
	c := config{natsURL: env("NATS_URL"), stream: env("STREAM"), consumer: env("CONSUMER"), mode: env("PULL_MODE")}
	if c.natsURL == "" {
		problems = append(problems, "NATS_URL is required (e.g. nats://127.0.0.1:4222)")
	}
	for _, v := range []struct{ key, value string }{{"STREAM", c.stream}, {"CONSUMER", c.consumer}} {
		if !name.MatchString(v.value) {
			problems = append(problems, fmt.Sprintf("%s %q must be 1-64 letters, digits, \"_\" or \"-\"", v.key, v.value))
		}
	}
	if c.mode == "" {
		c.mode = "consume"
	}
	if c.mode != "consume" && c.mode != "fetch" && c.mode != "push" {
		problems = append(problems, fmt.Sprintf("PULL_MODE %q must be consume, fetch or push", c.mode))
	}
	whole := func(key string, def, min, max int) int {
		raw := env(key)
		if raw == "" {
			return def
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < min || n > max {
			problems = append(problems, fmt.Sprintf("%s %q must be a whole number from %d to %d", key, raw, min, max))
			return def
		}
		return n
	}
	c.fetchBatch = whole("FETCH_BATCH", 10, 1, 10_000)
	c.maxMessages = whole("PULL_MAX_MESSAGES", 0, 1, 100_000)
	c.handler = time.Duration(whole("HANDLER_MS", 10, 0, 60_000)) * time.Millisecond
	return c, problems
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().UTC().Format(time.RFC3339Nano)}, args...)...)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Printf("jetscale-go-consumer %s nats.go %s\n", sourceHash, nats.Version)
		return
	}
	c, problems := loadConfig(os.Getenv)
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "invalid configuration:\n  %s\n", strings.Join(problems, "\n  "))
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(c config) error {
	nc, err := nats.Connect(c.natsURL,
		nats.Name("jetscale-go-consumer "+os.Getenv("POD_NAME")),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var cons jetstream.Consumer
	if c.mode != "push" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cons, err = js.Consumer(ctx, c.stream, c.consumer)
		cancel()
		if err != nil {
			return fmt.Errorf("consumer %q on stream %q at %s: %w (create the durable consumer first)", c.consumer, c.stream, c.natsURL, err)
		}
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var handled atomic.Int64
	handle := func(msg jetstream.Msg) {
		time.Sleep(c.handler)
		if err := msg.Ack(); err != nil {
			logf("ack failed: %v", err)
			return
		}
		handled.Add(1)
	}
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	go func() {
		for range ticker.C {
			logf("handled %d", handled.Load())
		}
	}()
	logf("consuming %s/%s with nats.go %s, mode %s, handler %s", c.stream, c.consumer, nats.Version, c.mode, c.handler)

	if c.mode == "push" {
		// The older push API, as applications written against it bind to an existing consumer:
		// the queue is the consumer's deliver group and the subject its filter (nats.go checks both).
		legacy, err := nc.JetStream()
		if err != nil {
			return err
		}
		info, err := legacy.ConsumerInfo(c.stream, c.consumer)
		if err != nil {
			return fmt.Errorf("consumer %q on stream %q at %s: %w (create the durable push consumer first)", c.consumer, c.stream, c.natsURL, err)
		}
		if info.Config.DeliverSubject == "" || info.Config.DeliverGroup == "" {
			return fmt.Errorf("PULL_MODE push needs a push consumer with a deliver group: %q on stream %q has deliver_subject %q, deliver_group %q",
				c.consumer, c.stream, info.Config.DeliverSubject, info.Config.DeliverGroup)
		}
		sub, err := legacy.QueueSubscribe(info.Config.FilterSubject, info.Config.DeliverGroup, func(msg *nats.Msg) {
			time.Sleep(c.handler)
			if err := msg.Ack(); err != nil {
				logf("ack failed: %v", err)
				return
			}
			handled.Add(1)
		}, nats.Bind(c.stream, c.consumer), nats.ManualAck())
		if err != nil {
			return fmt.Errorf("push subscribe to %q on stream %q: %w", c.consumer, c.stream, err)
		}
		<-stop
		// Stop receiving; the handler finishes what the subscription already holds, unacknowledged
		// messages the server sent ahead come back to the group after ack_wait.
		if err := sub.Drain(); err != nil {
			logf("drain: %v", err)
		}
	} else if c.mode == "consume" {
		// Consume() with no options: the library's defaults (PullMaxMessages 500, expiry 30 s),
		// unless PULL_MAX_MESSAGES sets another client's buffer.
		var opts []jetstream.PullConsumeOpt
		if c.maxMessages > 0 {
			opts = append(opts, jetstream.PullMaxMessages(c.maxMessages))
		}
		cc, err := cons.Consume(handle, opts...)
		if err != nil {
			return err
		}
		<-stop
		cc.Drain() // stop pulling; the handler finishes what was already delivered
		<-cc.Closed()
	} else {
		var stopping atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stopping.Load() {
				batch, err := cons.Fetch(c.fetchBatch) // default expiry 30 s
				if err != nil {
					logf("fetch: %v", err)
					time.Sleep(500 * time.Millisecond)
					continue
				}
				for msg := range batch.Messages() {
					handle(msg)
				}
				if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
					logf("fetch batch: %v", err)
				}
			}
		}()
		<-stop
		stopping.Store(true)
		// Finish the batch in hand (at most FETCH_BATCH handlers long). A fetch still waiting for
		// messages would hold on up to its 30 s expiry: draining the connection below ends it.
		select {
		case <-done:
		case <-time.After(time.Duration(c.fetchBatch)*c.handler + time.Second):
		}
	}
	logf("stopping after %d messages", handled.Load())
	return nc.Drain()
}
