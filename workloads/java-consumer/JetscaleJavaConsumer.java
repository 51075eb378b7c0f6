// jetscale-java-consumer: a JetStream pull consumer written the way jnats users write one, with the
// library's default settings, for the real-client matrix (operator/test/real-clients.int.test.ts).
// It takes the durable pull consumer's ConsumerContext and calls consume(handler) with no options:
// ConsumeOptions' defaults, 500 messages asked for, expires 30 s, and a re-pull topping up to 500
// once fewer than 375 (75 %) are asked for or buffered and not yet handled (jnats 2.26.2,
// BaseConsumeOptions and NatsMessageConsumer). Each message is handled one at a time on jnats's
// dispatcher thread: sleep HANDLER_MS (the work), then ack. SIGTERM stops pulling, lets the handler
// finish what was already delivered (at most STOP_SECONDS), drains the connection and exits 0.
//
// Configuration (environment): NATS_URL, STREAM, CONSUMER (required); HANDLER_MS (default 10).
// jnats is pinned in hack/versions.env (JNATS_VERSION, with its jar's sha256); `hack/tools.sh
// java-consumer` downloads it and compiles this file with javac into the tools directory.
import io.nats.client.Connection;
import io.nats.client.ConsumerContext;
import io.nats.client.MessageConsumer;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

public final class JetscaleJavaConsumer {
    /** Set by hack/tools.sh (a generated SourceHash class would be more; a system property is enough). */
    private static final String SOURCE_HASH = System.getProperty("jetscale.sourceHash", "dev");
    private static final Pattern NAME = Pattern.compile("^[A-Za-z0-9_-]{1,64}$");
    /** How long SIGTERM lets the handler finish what jnats already delivered. */
    private static final long STOP_SECONDS = 25;

    record Config(String url, String stream, String consumer, long handlerMs) {}

    /** Validates every variable; returns the problems, all at once (empty when valid). */
    static List<String> problems(Map<String, String> env) {
        List<String> problems = new ArrayList<>();
        if (env.getOrDefault("NATS_URL", "").isEmpty()) {
            problems.add("NATS_URL is required (e.g. nats://127.0.0.1:4222)");
        }
        for (String key : new String[] {"STREAM", "CONSUMER"}) {
            String v = env.getOrDefault(key, "");
            if (!NAME.matcher(v).matches()) {
                problems.add(key + " \"" + v + "\" must be 1-64 letters, digits, \"_\" or \"-\"");
            }
        }
        String raw = env.getOrDefault("HANDLER_MS", "");
        if (!raw.isEmpty() && (!raw.matches("[0-9]{1,5}") || Long.parseLong(raw) > 60_000)) {
            problems.add("HANDLER_MS \"" + raw + "\" must be a whole number from 0 to 60000");
        }
        return problems;
    }

    static void log(String message) {
        System.out.println(Instant.now() + " " + message);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--version")) {
            System.out.println("jetscale-java-consumer " + SOURCE_HASH + " jnats " + Nats.CLIENT_VERSION);
            return;
        }
        Map<String, String> env = System.getenv();
        List<String> problems = problems(env);
        if (!problems.isEmpty()) {
            System.err.println("invalid configuration:\n  " + String.join("\n  ", problems));
            System.exit(2);
        }
        String raw = env.getOrDefault("HANDLER_MS", "");
        Config c = new Config(env.get("NATS_URL"), env.get("STREAM"), env.get("CONSUMER"),
            raw.isEmpty() ? 10 : Long.parseLong(raw));

        String name = ("jetscale-java-consumer " + env.getOrDefault("POD_NAME", "")).trim();
        Connection nc;
        try {
            nc = Nats.connect(Options.builder().server(c.url()).connectionName(name).build());
        } catch (Exception e) {
            System.err.println("connect to " + c.url() + ": " + e);
            System.exit(1);
            return;
        }
        ConsumerContext cc;
        try {
            cc = nc.getConsumerContext(c.stream(), c.consumer());
        } catch (Exception e) {
            System.err.println("consumer \"" + c.consumer() + "\" on stream \"" + c.stream() + "\" at " + c.url()
                + ": " + e + " (create the durable consumer first)");
            System.exit(1);
            return;
        }
        AtomicLong handled = new AtomicLong();
        // consume() with no ConsumeOptions: the library's defaults.
        MessageConsumer mc = cc.consume(msg -> {
            try {
                Thread.sleep(c.handlerMs());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            msg.ack();
            handled.incrementAndGet();
        });
        log("consuming " + c.stream() + "/" + c.consumer() + " with jnats " + Nats.CLIENT_VERSION
            + " consume(), handler " + c.handlerMs() + " ms");

        CountDownLatch stopped = new CountDownLatch(1);
        CountDownLatch exited = new CountDownLatch(1);
        // SIGTERM and SIGINT run the JVM's shutdown hooks; the JVM exits once this one returns.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopped.countDown();
            try {
                exited.await(STOP_SECONDS + 10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        while (!stopped.await(5, TimeUnit.SECONDS)) {
            log("handled " + handled.get());
        }
        // Stop pulling, then drain: the handler goes on with what jnats already delivered (at most
        // STOP_SECONDS of it; what is left comes back to the consumer after ack_wait).
        log("stopping after " + handled.get() + " messages");
        mc.stop();
        boolean drained = false;
        try {
            drained = nc.drain(Duration.ofSeconds(STOP_SECONDS)).get(STOP_SECONDS + 5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log("drain: " + e);
        }
        log("stopped after " + handled.get() + " messages" + (drained ? "" : " (drain timed out)"));
        exited.countDown();
    }
}
