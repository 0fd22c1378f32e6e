//! The one-off task step of a unit, shared by `stamp run` and deploy's `before_deploy`: start
//! a task from a registered revision where the service's own tasks run, follow it to STOPPED
//! with progress on stderr, stop it (StopTask) when it outlives its timeout, and say where its
//! output is (the awslogs group and stream). Its end is a value ([`TaskEnd`]) the caller turns
//! into a row; this step never decides what a failed task means for the tenant.
//!
//! Only the chosen container's `command` is overridden: environment and secrets come from the
//! task definition as registered (secrets as `valueFrom` references), never from overrides.

use std::time::{Duration, Instant};

use crate::aws::Launch;
use crate::aws::deploy::TenantDeployer;
use crate::aws::task::{TaskRequest, TaskState};
use crate::fleet::Row;
use crate::output::Printer;
use crate::render::TaskDefinition;

/// Polls faster than this would only spend DescribeTasks calls.
const MIN_POLL: Duration = Duration::from_millis(10);

/// Where the task runs and how it is followed.
pub struct OneOff<'a> {
    pub deployer: &'a TenantDeployer,
    pub cluster: &'a str,
    /// `tenant/service`, for progress lines.
    pub who: String,
    pub poll: Duration,
    pub timeout: Duration,
    pub printer: &'a Printer,
}

/// The task to start: a registered revision, its definition (for the container and its log
/// configuration), the container and its command, the service's launch, the audit tags.
pub struct Job<'a> {
    pub task_definition_arn: &'a str,
    pub task_definition: &'a TaskDefinition,
    pub container: &'a str,
    pub command: &'a [String],
    pub launch: &'a Launch,
    pub tags: &'a [(String, String)],
}

/// How a one-off task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this code.
    Exited(i32),
    /// The task stopped without an exit code for the container (an image that could not be
    /// pulled, a stopped sidecar): ECS's reason.
    NoExitCode(String),
    /// It outlived its timeout; StopTask was sent (`Err`: it failed, with why).
    TimedOut {
        after: Duration,
        stop: Result<(), String>,
    },
    /// No task started: ECS's reason (no capacity, a bad subnet …), or why RunTask failed.
    NotStarted(String),
    /// A call failed while following it: the task may still run.
    Lost(String),
}

/// A task's end, with what the summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    pub task_arn: Option<String>,
    pub ended: Ended,
    /// `group /ecs/acme/api, stream api/app/<task id>`, when the container logs to awslogs.
    pub logs: Option<String>,
}

impl TaskEnd {
    /// Whether the container exited 0.
    pub fn succeeded(&self) -> bool {
        self.ended == Ended::Exited(0)
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.ended {
            Ended::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// `exit code 3`, `timed out after 2s and was stopped`, `did not start: …`.
    pub fn describe(&self) -> String {
        match &self.ended {
            Ended::Exited(c) => format!("exit code {c}"),
            Ended::NoExitCode(why) => format!("stopped without an exit code: {why}"),
            Ended::TimedOut {
                after,
                stop: Ok(()),
            } => format!(
                "timed out after {}: stamp stopped the task (StopTask)",
                duration_text(after.as_secs())
            ),
            Ended::TimedOut {
                after,
                stop: Err(e),
            } => format!(
                "timed out after {}, and stopping it failed: {e}; the task may still run",
                duration_text(after.as_secs())
            ),
            Ended::NotStarted(why) => format!("the task did not start: {why}"),
            Ended::Lost(why) => format!("following the task failed: {why}; it may still run"),
        }
    }

    /// The row's exit code, log location and detail (after what the row says already).
    pub fn fill(&self, row: &mut Row) {
        row.exit_code = self.exit_code();
        row.logs.clone_from(&self.logs);
        let mut said = self.describe();
        if let Some(l) = &self.logs {
            said.push_str(&format!("; logs: {l}"));
        }
        super::note(row, said);
    }
}

impl OneOff<'_> {
    /// Runs `command` in `container` (or the first essential one) of a registered revision,
    /// tagged with `tags` and the command's first word; `Err` when there is no such container.
    pub async fn run_in(
        &self,
        arn: &str,
        td: &TaskDefinition,
        container: Option<&str>,
        command: &[String],
        launch: &Launch,
        tags: &[(String, String)],
    ) -> Result<TaskEnd, String> {
        let (name, chosen) = choose_container(td, container)?;
        self.printer.info(format_args!(
            "{}: running `{}` in container {name}{}",
            self.who,
            shell_words(command),
            if chosen {
                " (the first essential container)"
            } else {
                ""
            }
        ));
        let mut tags = tags.to_vec();
        tags.push(crate::audit::command_tag(command));
        let job = Job {
            task_definition_arn: arn,
            task_definition: td,
            container: &name,
            command,
            launch,
            tags: &tags,
        };
        Ok(self.run(&job).await)
    }

    /// Starts the task and follows it to its end.
    pub async fn run(&self, job: &Job<'_>) -> TaskEnd {
        let request = TaskRequest {
            cluster: self.cluster,
            task_definition_arn: job.task_definition_arn,
            container: job.container,
            command: job.command,
            launch: job.launch,
            tags: job.tags,
        };
        let arn = match self.deployer.run_task(&request).await {
            Ok(Ok(arn)) => arn,
            Ok(Err(why)) => {
                return self.end(None, Ended::NotStarted(format!("ECS says {why}")), job);
            }
            Err(e) => return self.end(None, Ended::NotStarted(e.to_string()), job),
        };
        self.printer.status(
            &self.who,
            format_args!(
                "task {} started: {}",
                task_id(&arn),
                shell_words(job.command)
            ),
        );
        let ended = self.follow(&arn, job.container).await;
        self.end(Some(arn), ended, job)
    }

    fn end(&self, arn: Option<String>, ended: Ended, job: &Job<'_>) -> TaskEnd {
        let logs = arn
            .as_deref()
            .and_then(|a| log_location(job.task_definition, job.container, task_id(a)));
        TaskEnd {
            task_arn: arn,
            ended,
            logs,
        }
    }

    /// Polls DescribeTasks until STOPPED, or stops the task at the timeout. Progress lines only
    /// when the status changes, so CI logs get one line per change.
    async fn follow(&self, arn: &str, container: &str) -> Ended {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let poll = self.poll.max(MIN_POLL);
        let mut last: Option<String> = None;
        loop {
            let st = match self
                .deployer
                .describe_task(self.cluster, arn, container)
                .await
            {
                Ok(st) => st,
                Err(e) => return Ended::Lost(e.to_string()),
            };
            if last.as_deref() != Some(st.last_status.as_str()) {
                self.printer.status(
                    &self.who,
                    format_args!("task {} {}", task_id(arn), st.last_status),
                );
                last = Some(st.last_status.clone());
            }
            if st.stopped() {
                return stopped(&st);
            }
            let now = Instant::now();
            if now >= deadline {
                return self.stop(arn, started.elapsed()).await;
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
        }
    }

    async fn stop(&self, arn: &str, after: Duration) -> Ended {
        let reason = format!(
            "stamp: the task ran longer than its timeout ({})",
            duration_text(self.timeout.as_secs())
        );
        let stop = self
            .deployer
            .stop_task(self.cluster, arn, &reason)
            .await
            .map_err(|e| e.to_string());
        self.printer.error(format_args!(
            "{}: task {} timed out after {}; {}",
            self.who,
            task_id(arn),
            duration_text(after.as_secs()),
            if stop.is_ok() {
                "stopped it (StopTask)"
            } else {
                "StopTask failed"
            }
        ));
        Ended::TimedOut { after, stop }
    }
}

fn stopped(st: &TaskState) -> Ended {
    match st.exit_code {
        Some(c) => Ended::Exited(c),
        None => {
            let why: Vec<&str> = [st.container_reason.as_deref(), st.stopped_reason.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            Ended::NoExitCode(if why.is_empty() {
                "ECS gave no reason".to_owned()
            } else {
                why.join("; ")
            })
        }
    }
}

/// The container a task runs the command in: `wanted`, which must exist, or the first
/// essential container (ECS counts a container without `essential` as essential). The flag says
/// whether it was chosen for the caller.
pub fn choose_container(
    td: &TaskDefinition,
    wanted: Option<&str>,
) -> Result<(String, bool), String> {
    let names: Vec<&str> = td
        .container_definitions
        .iter()
        .filter_map(|c| c.name.as_deref())
        .collect();
    if let Some(w) = wanted {
        return if names.contains(&w) {
            Ok((w.to_owned(), false))
        } else {
            Err(format!(
                "the task definition has no container `{w}` (it has: {})",
                names.join(", ")
            ))
        };
    }
    td.container_definitions
        .iter()
        .find(|c| c.essential != Some(false))
        .and_then(|c| c.name.clone())
        .map(|n| (n, true))
        .ok_or_else(|| "the task definition has no essential container".to_owned())
}

/// `group G, stream PREFIX/CONTAINER/TASK-ID`: where awslogs writes the container's output.
/// `None` when the container does not log to awslogs or names no stream prefix (ECS then
/// names the stream after the task only, which stamp does not guess).
pub fn log_location(td: &TaskDefinition, container: &str, task_id: &str) -> Option<String> {
    let c = td
        .container_definitions
        .iter()
        .find(|c| c.name.as_deref() == Some(container))?;
    let lc = c.log_configuration.as_ref()?;
    if lc.log_driver != "awslogs" {
        return None;
    }
    let opts = lc.options.as_ref()?;
    let group = opts.get("awslogs-group")?;
    let prefix = opts.get("awslogs-stream-prefix")?;
    Some(format!(
        "group {group}, stream {prefix}/{container}/{task_id}"
    ))
}

/// The id at the end of a task ARN (both ARN formats end in it).
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A command as a person would type it: words with spaces or quotes quoted.
pub fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `90s`, `15m`, `1h`, `1h30m`: a timeout as the files write it.
pub fn duration_text(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        _ => format!("{secs}s"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::taskdef::parse;

    const TD: &str = r#"{"family": "shop-api", "containerDefinitions": [
        {"name": "init", "image": "busybox", "essential": false},
        {"name": "app", "image": "shop:v1", "logConfiguration": {"logDriver": "awslogs",
         "options": {"awslogs-group": "/ecs/acme/api", "awslogs-region": "eu-west-1",
                     "awslogs-stream-prefix": "api"}}},
        {"name": "otel", "image": "otel", "logConfiguration": {"logDriver": "awslogs",
         "options": {"awslogs-group": "/ecs/acme/api"}}}]}"#;

    #[test]
    fn the_default_container_is_the_first_essential_one_and_a_named_one_must_exist() {
        let td = parse(TD).unwrap();
        assert_eq!(
            choose_container(&td, None).unwrap(),
            ("app".to_owned(), true)
        );
        assert_eq!(
            choose_container(&td, Some("otel")).unwrap(),
            ("otel".to_owned(), false)
        );
        let e = choose_container(&td, Some("web")).unwrap_err();
        assert!(
            e.contains("no container `web`") && e.contains("init, app, otel"),
            "{e}"
        );
    }

    #[test]
    fn logs_are_found_only_where_awslogs_names_group_and_prefix() {
        let td = parse(TD).unwrap();
        assert_eq!(
            log_location(&td, "app", "abc123").as_deref(),
            Some("group /ecs/acme/api, stream api/app/abc123")
        );
        assert_eq!(log_location(&td, "otel", "abc123"), None);
        assert_eq!(log_location(&td, "init", "abc123"), None);
    }

    #[test]
    fn commands_and_durations_read_as_a_person_writes_them() {
        let cmd: Vec<String> = ["./migrate", "up", "--to", "it's 42"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(shell_words(&cmd), r"./migrate up --to 'it'\''s 42'");
        assert_eq!(duration_text(900), "15m");
        assert_eq!(duration_text(90), "90s");
        assert_eq!(duration_text(5400), "1h30m");
        assert_eq!(
            task_id("arn:aws:ecs:eu-west-1:1:task/acme-shop/0f1e"),
            "0f1e"
        );
    }
}
