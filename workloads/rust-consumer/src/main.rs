// jetscale-rust-consumer: a JetStream pull consumer written the way async-nats users write one, with
// the library's default settings, for the real-client matrix (operator/test/real-clients.int.test.ts).
// It binds to the durable pull consumer and reads `consumer.messages()` with no options: batch 200,
// expires 30 s, idle heartbeat 15 s; another 200 asked for whenever what it asked for and the
// caller has not yet taken falls to 100 (async-nats 0.49.1 jetstream/consumer/pull.rs). Each
// message is handled one at a time: sleep HANDLER_MS (the work), then ack. SIGTERM finishes the one
// in hand, drains the connection and exits 0; what the stream had received and the caller not yet
// taken comes back to the consumer after ack_wait (messages() has no drain).
//
// Configuration (environment): NATS_URL, STREAM, CONSUMER (required); HANDLER_MS (default 10).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures_util::StreamExt;
use tokio::signal::unix::{signal, SignalKind};

/// The source hash hack/tools.sh builds with (JETSCALE_SOURCE_HASH), so a stale binary is rebuilt.
const SOURCE_HASH: &str = match option_env!("JETSCALE_SOURCE_HASH") {
    Some(h) => h,
    None => "dev",
};
const ASYNC_NATS_VERSION: &str = "0.49.1";

struct Config {
    url: String,
    stream: String,
    consumer: String,
    handler: Duration,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Validates every variable and reports all problems at once.
fn load_config(env: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<String>> {
    let mut problems = Vec::new();
    let url = env("NATS_URL").unwrap_or_default();
    if url.is_empty() {
        problems.push("NATS_URL is required (e.g. nats://127.0.0.1:4222)".to_string());
    }
    let stream = env("STREAM").unwrap_or_default();
    let consumer = env("CONSUMER").unwrap_or_default();
    for (key, value) in [("STREAM", &stream), ("CONSUMER", &consumer)] {
        if !valid_name(value) {
            problems.push(format!(
                "{key} \"{value}\" must be 1-64 letters, digits, \"_\" or \"-\""
            ));
        }
    }
    let mut handler_ms = 10;
    if let Some(raw) = env("HANDLER_MS").filter(|r| !r.is_empty()) {
        match raw.parse::<u64>() {
            Ok(n) if n <= 60_000 && raw.chars().all(|c| c.is_ascii_digit()) => handler_ms = n,
            _ => problems.push(format!(
                "HANDLER_MS \"{raw}\" must be a whole number from 0 to 60000"
            )),
        }
    }
    if problems.is_empty() {
        Ok(Config {
            url,
            stream,
            consumer,
            handler: Duration::from_millis(handler_ms),
        })
    } else {
        Err(problems)
    }
}

fn log(message: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    println!("{}.{:03} {message}", now.as_secs(), now.subsec_millis());
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("jetscale-rust-consumer {SOURCE_HASH} async-nats {ASYNC_NATS_VERSION}");
        return;
    }
    let config = match load_config(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("invalid configuration:\n  {}", problems.join("\n  "));
            std::process::exit(2);
        }
    };
    if let Err(err) = run(config).await {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

async fn run(c: Config) -> Result<(), Box<dyn std::error::Error>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let name = format!(
        "jetscale-rust-consumer {}",
        std::env::var("POD_NAME").unwrap_or_default()
    );
    let client = async_nats::ConnectOptions::new()
        .name(name.trim())
        .connect(c.url.as_str())
        .await
        .map_err(|e| format!("connect to {}: {e}", c.url))?;
    let js = jetstream::new(client.clone());
    let consumer: PullConsumer = js
        .get_consumer_from_stream(&c.consumer, &c.stream)
        .await
        .map_err(|e| {
            format!(
                "consumer \"{}\" on stream \"{}\" at {}: {e} (create the durable consumer first)",
                c.consumer, c.stream, c.url
            )
        })?;
    // messages() with no options: the library's defaults.
    let mut messages = consumer.messages().await?;
    log(&format!(
        "consuming {}/{} with async-nats {ASYNC_NATS_VERSION} messages(), handler {:?}",
        c.stream, c.consumer, c.handler
    ));
    let mut handled: u64 = 0;
    let mut report = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = report.tick() => log(&format!("handled {handled}")),
            next = messages.next() => match next {
                Some(Ok(msg)) => {
                    tokio::time::sleep(c.handler).await;
                    match msg.ack().await {
                        Ok(()) => handled += 1,
                        Err(e) => log(&format!("ack failed: {e}")),
                    }
                }
                Some(Err(e)) => log(&format!("messages: {e}")),
                None => return Err("the message stream ended".into()),
            },
        }
    }
    // What the stream already received stays delivered and unacknowledged until ack_wait: messages()
    // has no drain, and a nak would come straight back to this stream while it is read.
    log(&format!("stopping after {handled} messages"));
    drop(messages);
    client.drain().await?;
    Ok(())
}
