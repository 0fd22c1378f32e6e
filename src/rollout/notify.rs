//! The webhook messages of a write run (`[notify]` in `_defaults.toml`): one when its first wave
//! starts (who, commit, release, tenants) and one with the summary when it ends, failures first.
//! The body is JSON with Slack's `text` plus the same facts as fields under `stamp`, so a Slack
//! incoming webhook and any endpoint taking JSON can read it.
//!
//! A notification must never fail or slow a run: the messages go out from a thread of their own,
//! each bounded by [`TIMEOUT`], and the end waits at most that long for them. Whatever goes wrong
//! is one warning on stderr. The URL is a secret (a Slack webhook URL grants posting): it is read
//! from the environment at run time and appears in no message, warning or error; only the
//! variable's name does.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::settings::noun;
use crate::dsl::Fleet;
use crate::fleet::{Outcome, Row, Summary};
use crate::output::Printer;

/// How long one message may take, and how long the end of a run waits for what is unsent.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Tenant names the start message's text lists before `… and N more`.
const NAMES_IN_TEXT: usize = 10;
/// Problem rows the end message's text lists.
const PROBLEMS_IN_TEXT: usize = 10;
/// Entries in the JSON lists: the counts stay exact, the lists stay a message, not a dump.
const LIST_LIMIT: usize = 500;
/// A row's detail in a message (an ECS reason can be long).
const DETAIL_LIMIT: usize = 300;

/// What the run is, as the messages say it.
#[derive(Debug, Clone)]
pub struct About {
    /// `deploy`, `roll back`, `apply`: the engine's verb.
    pub verb: &'static str,
    /// The deployer, as the audit tags record it (the base caller's ARN).
    pub who: String,
    pub commit: String,
    /// The release(s) going out; `None` where the command has none (infra apply).
    pub release: Option<String>,
}

/// A run's notifications: off without `[notify]` or with its variable unset.
#[derive(Clone, Default)]
pub struct Notify(Option<Arc<Hook>>);

struct Hook {
    /// The webhook URL: a secret, never shown.
    url: String,
    /// The variable it came from: what warnings name.
    var: String,
    about: About,
    printer: Printer,
    sending: Mutex<Option<Sending>>,
}

/// The sender thread of a run that announced itself.
struct Sending {
    tx: mpsc::Sender<Value>,
    done: mpsc::Receiver<()>,
    since: Instant,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL.
        match &self.0 {
            Some(h) => write!(f, "Notify(${})", h.var),
            None => f.write_str("Notify(off)"),
        }
    }
}

impl Notify {
    /// The run's notifications from `[notify]` and the environment. An unset or empty variable
    /// is one warning and no notifications; the run goes on.
    pub fn new(fleet: &Fleet, about: About, printer: &Printer) -> Self {
        let Some(n) = &fleet.notify else {
            return Self::default();
        };
        let var = n.webhook_env.clone();
        match std::env::var(&var) {
            Ok(url) if !url.trim().is_empty() => Self(Some(Arc::new(Hook {
                url: url.trim().to_owned(),
                var,
                about,
                printer: printer.clone(),
                sending: Mutex::new(None),
            }))),
            _ => {
                printer.error(format_args!(
                    "warning: [notify] webhook_env names ${var}, which is not set: this {} sends no notifications",
                    noun(about.verb)
                ));
                Self::default()
            }
        }
    }

    /// Sends the start message without waiting for it: `tenants` are `(ring, name)` in wave
    /// order. Nothing is sent for a run in which no tenant starts.
    pub fn started(&self, tenants: &[(String, String)]) {
        let Some(h) = &self.0 else { return };
        if tenants.is_empty() {
            return;
        }
        let Ok(mut sending) = h.sending.lock() else {
            return;
        };
        if sending.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel::<Value>();
        let (done_tx, done) = mpsc::channel();
        let hook = h.clone();
        let spawned = std::thread::Builder::new()
            .name("stamp-notify".to_owned())
            .spawn(move || {
                hook.deliver_all(&rx);
                let _ = done_tx.send(());
            });
        if spawned.is_err() {
            h.warn("start", "could not start its sender thread");
            return;
        }
        let _ = tx.send(start_message(&h.about, tenants));
        *sending = Some(Sending {
            tx,
            done,
            since: Instant::now(),
        });
    }

    /// Sends the end message with `summary` and the run's exit code (the command's rule: a
    /// requested rollback that rolled back is a success) and waits at most [`TIMEOUT`] for what
    /// is unsent. Only a run that sent its start message sends an end message.
    pub fn finished(&self, summary: &Summary, exit_code: u8) {
        let Some(h) = &self.0 else { return };
        let Some(s) = h.sending.lock().ok().and_then(|mut s| s.take()) else {
            return;
        };
        let _ =
            s.tx.send(end_message(&h.about, summary, exit_code, s.since.elapsed()));
        drop(s.tx);
        if s.done.recv_timeout(TIMEOUT).is_err() {
            h.warn(
                "end",
                &format!("not delivered within {}s", TIMEOUT.as_secs()),
            );
        }
    }
}

impl Hook {
    /// The sender thread: each message in turn, on a runtime of its own so that neither the
    /// run's runtime nor its end can hold a message up or be held up by one.
    fn deliver_all(&self, rx: &mpsc::Receiver<Value>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let client = crate::http::Client::new(TIMEOUT);
        let (rt, client) = match (rt, client) {
            (Ok(rt), Ok(c)) => (rt, c),
            (Err(e), _) | (_, Err(e)) => {
                self.warn("start", &format!("could not set up its HTTP client: {e}"));
                return;
            }
        };
        while let Ok(msg) = rx.recv() {
            let which = if msg["stamp"]["event"] == "started" {
                "start"
            } else {
                "end"
            };
            let sent = rt.block_on(client.post_json(&self.url, &msg));
            match sent {
                Ok(r) if r.is_success() => {}
                Ok(r) => self.warn(which, &format!("the endpoint answered HTTP {}", r.status)),
                Err(crate::http::HttpError::Timeout { .. }) => {
                    self.warn(which, &format!("no answer within {}s", TIMEOUT.as_secs()))
                }
                Err(e) => self.warn(which, &self.scrub(&e)),
            }
        }
    }

    /// One warning line naming the variable, never the URL.
    fn warn(&self, which: &str, why: &str) {
        self.printer.error(format_args!(
            "warning: notify: the {which} message to ${} was not delivered: {why} (the {} is not affected)",
            self.var,
            noun(self.about.verb)
        ));
    }

    /// An HTTP error's words without the URL: the error names its target, and a webhook URL's
    /// path is the secret.
    fn scrub(&self, e: &crate::http::HttpError) -> String {
        use crate::http::HttpError;
        let detail = match e {
            HttpError::BadUrl(_) => "it is not an http(s) URL".to_owned(),
            HttpError::Failed { detail, .. } => detail.clone(),
            HttpError::Timeout { .. } => "no answer".to_owned(),
        };
        let mut out = detail.replace(&self.url, "$URL");
        let bare = crate::http::redacted(&self.url);
        out = out.replace(&bare, "$URL");
        if let Some(path) = bare
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            && path.len() > 1
        {
            out = out.replace(path, "/…");
        }
        out
    }
}

/// `deploy`, `rollback`, `infra apply`: what one run is called.
/// Slack reads `&`, `<` and `>` in `text` as markup; a value must show as written.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

fn facts(about: &About, event: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("event".into(), event.into());
    m.insert("command".into(), noun(about.verb).into());
    m.insert("who".into(), about.who.clone().into());
    m.insert("commit".into(), about.commit.clone().into());
    m.insert("release".into(), about.release.clone().into());
    m
}

/// `release v2, commit 1a2b3c`: the line both messages carry.
fn what(about: &About) -> String {
    match &about.release {
        Some(r) => format!("release {r}, commit {}", about.commit),
        None => format!("commit {}", about.commit),
    }
}

fn start_message(about: &About, tenants: &[(String, String)]) -> Value {
    let mut rings: Vec<(&str, Vec<&str>)> = Vec::new();
    for (ring, name) in tenants {
        match rings.last_mut() {
            Some((r, names)) if *r == ring.as_str() => names.push(name),
            _ => rings.push((ring, vec![name])),
        }
    }
    let mut left = NAMES_IN_TEXT;
    let listed: Vec<String> = rings
        .iter()
        .filter_map(|(ring, names)| {
            let shown: Vec<&str> = names.iter().take(left).copied().collect();
            left -= shown.len();
            (!shown.is_empty()).then(|| format!("{ring}: {}", shown.join(", ")))
        })
        .collect();
    let more = tenants.len().saturating_sub(NAMES_IN_TEXT);
    let text = format!(
        "stamp {} started by {} ({}): {} in {}: {}{}",
        noun(about.verb),
        about.who,
        what(about),
        crate::output::count(tenants.len(), "tenant"),
        crate::output::count(rings.len(), "ring"),
        listed.join("; "),
        if more > 0 {
            format!(" … and {more} more")
        } else {
            String::new()
        }
    );
    let mut f = facts(about, "started");
    f.insert("tenant_count".into(), tenants.len().into());
    f.insert(
        "tenants".into(),
        tenants
            .iter()
            .take(LIST_LIMIT)
            .map(|(ring, name)| json!({"name": name, "ring": ring}))
            .collect(),
    );
    json!({"text": slack_escape(&text), "stamp": f})
}

const TALLY_ORDER: [Outcome; 6] = [
    Outcome::Failed,
    Outcome::NeedsHuman,
    Outcome::RolledBack,
    Outcome::Skipped,
    Outcome::Deployed,
    Outcome::Unchanged,
];

fn end_message(about: &About, summary: &Summary, exit_code: u8, took: Duration) -> Value {
    let counts = summary.counts();
    let ok = exit_code == 0;
    let problems: Vec<&Row> = summary
        .rows
        .iter()
        .filter(|r| !ok && r.result.is_failure())
        .collect();
    // Failures first, in the text as in the list below it.
    let tally: Vec<String> = TALLY_ORDER
        .iter()
        .filter_map(|o| {
            let n = counts.get(o.as_str()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {o}"))
        })
        .collect();
    let mut text = format!(
        "stamp {} {} in {:.0}s ({}): {}",
        noun(about.verb),
        if ok { "finished" } else { "FAILED" },
        took.as_secs_f64(),
        what(about),
        tally.join(", ")
    );
    for r in problems.iter().take(PROBLEMS_IN_TEXT) {
        text.push_str(&format!("\n• {}", problem_line(r)));
    }
    if problems.len() > PROBLEMS_IN_TEXT {
        text.push_str(&format!(
            "\n… and {} more",
            problems.len() - PROBLEMS_IN_TEXT
        ));
    }
    let mut f = facts(about, "finished");
    f.insert("ok".into(), ok.into());
    f.insert("exit_code".into(), exit_code.into());
    f.insert(
        "duration_ms".into(),
        u64::try_from(took.as_millis()).unwrap_or(u64::MAX).into(),
    );
    f.insert("counts".into(), json!(counts));
    f.insert(
        "problems".into(),
        problems
            .iter()
            .take(LIST_LIMIT)
            .map(|r| {
                json!({
                    "tenant": r.tenant,
                    "ring": r.ring,
                    "service": r.service,
                    "result": r.result.as_str(),
                    "detail": r.detail.as_deref().map(|d| cut(d, DETAIL_LIMIT)),
                })
            })
            .collect(),
    );
    json!({"text": slack_escape(&text), "stamp": f})
}

/// `acme/api failed: the reason`.
fn problem_line(r: &Row) -> String {
    let mut line = format!("{}/{} {}", r.tenant, r.service, r.result.as_str());
    if let Some(d) = &r.detail {
        line.push_str(": ");
        line.push_str(&cut(d, DETAIL_LIMIT));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Outcome;

    fn about() -> About {
        About {
            verb: "deploy",
            who: "arn:aws:iam::111111111111:user/ci".into(),
            commit: "0123456789ab".into(),
            release: Some("v2".into()),
        }
    }

    fn row(tenant: &str, service: &str, result: Outcome, detail: Option<&str>) -> Row {
        Row {
            tenant: tenant.to_owned(),
            ring: "canary".to_owned(),
            service: service.to_owned(),
            result,
            revision: None,
            previous_revision: None,
            release: None,
            duration_ms: 0,
            detail: detail.map(str::to_owned),
            retries: 0,
            retried: std::collections::BTreeMap::new(),
            exit_code: None,
            logs: None,
        }
    }

    #[test]
    fn the_start_message_lists_ten_names_in_its_text_and_all_in_its_fields() {
        let tenants: Vec<(String, String)> = (0..12)
            .map(|i| {
                let ring = if i < 2 { "canary" } else { "stable" };
                (ring.to_owned(), format!("t{i:02}"))
            })
            .collect();
        let m = start_message(&about(), &tenants);
        let text = m["text"].as_str().expect("text");
        assert_eq!(
            text,
            "stamp deploy started by arn:aws:iam::111111111111:user/ci (release v2, commit \
             0123456789ab): 12 tenants in 2 rings: canary: t00, t01; stable: t02, t03, t04, t05, \
             t06, t07, t08, t09 … and 2 more"
        );
        assert_eq!(m["stamp"]["tenant_count"], 12);
        assert_eq!(m["stamp"]["tenants"].as_array().map(Vec::len), Some(12));
        assert_eq!(
            m["stamp"]["tenants"][11],
            json!({"name": "t11", "ring": "stable"})
        );
    }

    #[test]
    fn the_end_message_puts_failures_first_and_escapes_slack_markup() {
        let summary = Summary {
            rows: vec![
                row("acme", "api", Outcome::Deployed, None),
                row(
                    "globex",
                    "api",
                    Outcome::Failed,
                    Some("image <x> & y not found"),
                ),
                row("globex", "worker", Outcome::Skipped, Some("not started")),
            ],
        };
        let m = end_message(&about(), &summary, 1, Duration::from_secs(42));
        let text = m["text"].as_str().expect("text");
        assert_eq!(
            text,
            "stamp deploy FAILED in 42s (release v2, commit 0123456789ab): 1 failed, 1 skipped, \
             1 deployed\n• globex/api failed: image &lt;x&gt; &amp; y not found"
        );
        let f = &m["stamp"];
        assert_eq!(f["event"], "finished");
        assert_eq!(f["ok"], false);
        assert_eq!(f["exit_code"], 1);
        assert_eq!(f["counts"]["failed"], 1);
        assert_eq!(f["problems"][0]["detail"], "image <x> & y not found");
        assert_eq!(f["problems"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn warnings_never_carry_the_url() {
        let hook = Hook {
            url: "https://hooks.example.com/services/T0/B0/SECRET".into(),
            var: "HOOK".into(),
            about: about(),
            printer: Printer::new(
                crate::cli::OutputFormat::Text,
                crate::cli::ColorChoice::Never,
                true,
                0,
            ),
            sending: Mutex::new(None),
        };
        let e = crate::http::HttpError::Failed {
            target: "POST https://hooks.example.com/services/T0/B0/SECRET".into(),
            detail: "connect to https://hooks.example.com/services/T0/B0/SECRET failed; path /services/T0/B0/SECRET".into(),
        };
        let said = hook.scrub(&e);
        assert!(!said.contains("SECRET"), "{said}");
        assert_eq!(said, "connect to $URL failed; path /…");
        assert_eq!(
            format!("{:?}", Notify(Some(Arc::new(hook)))),
            "Notify($HOOK)"
        );
    }
}
