//! A local stand-in for an agent vendor's API on 127.0.0.1, answering each
//! request by the credential it carries the way the vendor does: Anthropic's
//! 429 with its unified rate-limit headers, a streamed reply, codex's 429
//! `usage_limit_reached` body. It records every request's method and
//! credential, so a test can see which account's credential went out.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the stand-in answers a credential.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Anthropic's quota 429: `anthropic-ratelimit-unified-status: rejected`
    /// with the reset and the window that is out (`seven_day`, ...), and,
    /// when `paused`, the organisation's daily-cap pause.
    ClaudeQuota { claim: &'static str, reset: i64, paused: bool },
    /// A normal Anthropic Messages reply (streamed when asked).
    ClaudeReply(&'static str),
    /// A reply past a warning threshold: `anthropic-ratelimit-unified-status:
    /// allowed_warning`, and each window's utilisation and reset
    /// (`-5h-utilization`, `-7d-utilization`, ...), as Anthropic sends them.
    ClaudeWarning { text: &'static str, five_hour: f64, seven_day: f64, five_hour_reset: i64, seven_day_reset: i64 },
    /// A Bash tool call whose command holds `marker`, then, once the
    /// request carries the tool's result, the quota 429 of `ClaudeQuota`.
    ClaudeToolThenQuota { marker: &'static str, claim: &'static str, reset: i64 },
    /// codex's 429 body for a ChatGPT or API account out of usage.
    CodexUsageLimit { resets_at: i64 },
    /// A shell tool call whose command holds `marker`, then, once the
    /// request carries its output, codex's usage-limit 429.
    CodexToolThenUsageLimit { marker: &'static str, resets_at: i64 },
    /// A normal Responses API reply, streamed.
    CodexReply(&'static str),
    /// The same with the usage headers the API sends (`x-codex-primary-used-percent`,
    /// `-window-minutes`, `-reset-at`, and the secondary window's).
    CodexReplyWithLimits { text: &'static str, primary: f64, secondary: f64, primary_reset: i64, secondary_reset: i64 },
    /// 401 for anything else.
    Unauthorized,
}

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `authorization: Bearer X` or `x-api-key: X` as `X`; "none".
    pub credential: String,
    pub method: String,
    pub body: String,
    /// When it came in.
    pub at: Instant,
}

pub struct StandIn {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    /// Serve `answers` (credential → answer) until the test process ends.
    pub fn start(answers: &[(&str, Answer)]) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: HashMap<String, Answer> = answers.iter().map(|(k, a)| ((*k).to_owned(), a.clone())).collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answers = answers.clone();
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &answers, &log));
            }
        });
        StandIn { port, seen }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every POST so far.
    pub fn posts(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.method == "POST").cloned().collect()
    }

    /// Wait up to `limit` for a POST carrying `credential`.
    pub fn wait_for(&self, credential: &str, limit: Duration) -> Option<Seen> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(seen) = self.posts().into_iter().find(|s| s.credential == credential) {
                return Some(seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn serve(stream: TcpStream, answers: &HashMap<String, Answer>, log: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.trim().split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        line.clear();
    }
    let body = read_body(&mut reader, &headers);
    let credential = headers
        .get("authorization")
        .map(|v| v.trim_start_matches("Bearer ").to_owned())
        .or_else(|| headers.get("x-api-key").cloned())
        .unwrap_or_else(|| "none".into());
    let at = Instant::now();
    log.lock().unwrap().push(Seen { credential: credential.clone(), method: method.clone(), body: body.clone(), at });
    let mut stream = stream;
    if method != "POST" {
        // No websockets, no other endpoints: the agents fall back to HTTPS.
        return respond(&mut stream, "404 Not Found", &[], "application/json", "{}");
    }
    let answer = match answers.get(&credential).cloned().unwrap_or(Answer::Unauthorized) {
        Answer::ClaudeToolThenQuota { claim, reset, .. } if body.contains("tool_result") => {
            Answer::ClaudeQuota { claim, reset, paused: false }
        }
        Answer::CodexToolThenUsageLimit { resets_at, .. } if body.contains("function_call_output") => {
            Answer::CodexUsageLimit { resets_at }
        }
        other => other,
    };
    match answer {
        Answer::ClaudeToolThenQuota { marker, .. } => {
            respond(&mut stream, "200 OK", &[], "text/event-stream", &claude_tool_stream(marker));
        }
        Answer::ClaudeQuota { claim, reset, paused } => {
            let reset = reset.to_string();
            let mut headers = vec![
                ("anthropic-ratelimit-unified-status", "rejected"),
                ("anthropic-ratelimit-unified-reset", reset.as_str()),
                ("anthropic-ratelimit-unified-representative-claim", claim),
            ];
            if paused {
                headers.push(("anthropic-ratelimit-unified-overage-daily-cap-paused", "true"));
            }
            let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."}}"#;
            respond(&mut stream, "429 Too Many Requests", &headers, "application/json", body);
        }
        Answer::ClaudeReply(text) if body.contains("\"stream\":true") => {
            respond(&mut stream, "200 OK", &[], "text/event-stream", &claude_stream(text));
        }
        Answer::ClaudeReply(text) => respond(&mut stream, "200 OK", &[], "application/json", &claude_message(text)),
        Answer::ClaudeWarning { text, five_hour, seven_day, five_hour_reset, seven_day_reset } => {
            let values = [
                five_hour.to_string(),
                five_hour_reset.to_string(),
                seven_day.to_string(),
                seven_day_reset.to_string(),
            ];
            let headers = [
                ("anthropic-ratelimit-unified-status", "allowed_warning"),
                ("anthropic-ratelimit-unified-reset", values[3].as_str()),
                ("anthropic-ratelimit-unified-representative-claim", "seven_day"),
                ("anthropic-ratelimit-unified-5h-utilization", values[0].as_str()),
                ("anthropic-ratelimit-unified-5h-reset", values[1].as_str()),
                ("anthropic-ratelimit-unified-5h-status", "allowed"),
                ("anthropic-ratelimit-unified-7d-utilization", values[2].as_str()),
                ("anthropic-ratelimit-unified-7d-reset", values[3].as_str()),
                ("anthropic-ratelimit-unified-7d-surpassed-threshold", "0.95"),
                ("anthropic-ratelimit-unified-7d-status", "allowed_warning"),
            ];
            let (content_type, body) = if body.contains("\"stream\":true") {
                ("text/event-stream", claude_stream(text))
            } else {
                ("application/json", claude_message(text))
            };
            respond(&mut stream, "200 OK", &headers, content_type, &body);
        }
        Answer::CodexToolThenUsageLimit { marker, .. } => {
            let arguments = serde_json::json!({"command": ["echo", marker]}).to_string();
            let item = serde_json::json!({"type": "function_call", "id": "fc_standin", "call_id": "call_standin", "name": "shell", "arguments": arguments});
            respond(&mut stream, "200 OK", &[], "text/event-stream", &codex_stream(item));
        }
        Answer::CodexReply(text) => {
            let item = serde_json::json!({"type": "message", "role": "assistant", "id": "msg_standin", "content": [{"type": "output_text", "text": text}]});
            respond(&mut stream, "200 OK", &[], "text/event-stream", &codex_stream(item));
        }
        Answer::CodexReplyWithLimits { text, primary, secondary, primary_reset, secondary_reset } => {
            let values =
                [primary.to_string(), primary_reset.to_string(), secondary.to_string(), secondary_reset.to_string()];
            let headers = [
                ("x-codex-primary-used-percent", values[0].as_str()),
                ("x-codex-primary-window-minutes", "300"),
                ("x-codex-primary-reset-at", values[1].as_str()),
                ("x-codex-secondary-used-percent", values[2].as_str()),
                ("x-codex-secondary-window-minutes", "10080"),
                ("x-codex-secondary-reset-at", values[3].as_str()),
            ];
            let item = serde_json::json!({"type": "message", "role": "assistant", "id": "msg_standin", "content": [{"type": "output_text", "text": text}]});
            respond(&mut stream, "200 OK", &headers, "text/event-stream", &codex_stream(item));
        }
        Answer::CodexUsageLimit { resets_at } => {
            let secs = resets_at - jiff::Timestamp::now().as_second();
            let body = format!(
                r#"{{"error":{{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"pro","resets_at":{resets_at},"resets_in_seconds":{secs}}}}}"#
            );
            respond(&mut stream, "429 Too Many Requests", &[], "application/json", &body);
        }
        Answer::Unauthorized => respond(
            &mut stream,
            "401 Unauthorized",
            &[],
            "application/json",
            r#"{"type":"error","error":{"type":"authentication_error","message":"stand-in: unknown credential"}}"#,
        ),
    }
}

fn read_body(reader: &mut BufReader<TcpStream>, headers: &HashMap<String, String>) -> String {
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        let _ = reader.read_exact(&mut body);
    } else if headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                break;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
            if n == 0 {
                let _ = reader.read_line(&mut size);
                break;
            }
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], content_type: &str, body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out += &format!("{name}: {value}\r\n");
    }
    out += "Connection: close\r\n\r\n";
    out += body;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

fn claude_message(text: &str) -> String {
    serde_json::json!({
        "id": "msg_standin", "type": "message", "role": "assistant", "model": "claude-standin",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 1, "output_tokens": 1}
    })
    .to_string()
}

/// The server-sent events of one Responses API reply holding `item`.
fn codex_stream(item: serde_json::Value) -> String {
    let usage = serde_json::json!({"input_tokens": 1, "input_tokens_details": null, "output_tokens": 1, "output_tokens_details": null, "total_tokens": 2});
    let events = [
        ("response.created", serde_json::json!({"type": "response.created", "response": {"id": "resp_standin"}})),
        (
            "response.output_item.done",
            serde_json::json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            serde_json::json!({"type": "response.completed", "response": {"id": "resp_standin", "usage": usage}}),
        ),
    ];
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

/// The server-sent events of one streamed Bash tool call.
fn claude_tool_stream(marker: &str) -> String {
    let input = serde_json::json!({"command": format!("echo {marker}"), "description": "Print the marker"}).to_string();
    let events = [
        (
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_standin_tool", "type": "message", "role": "assistant", "model": "claude-standin", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_standin", "name": "Bash", "input": {}}}),
        ),
        (
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input}}),
        ),
        ("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
        ),
        ("message_stop", serde_json::json!({"type": "message_stop"})),
    ];
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

/// The server-sent events of one streamed text reply.
fn claude_stream(text: &str) -> String {
    let events = [
        (
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_standin", "type": "message", "role": "assistant", "model": "claude-standin", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        ("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
        ),
        ("message_stop", serde_json::json!({"type": "message_stop"})),
    ];
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}
