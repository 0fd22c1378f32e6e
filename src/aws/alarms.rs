//! The health gates' one read: CloudWatch DescribeAlarms by name, metric and composite alarms,
//! in batches of 100 names, on the tenant's inspect role. What an alarm's state means for a
//! rollout is `crate::rollout`'s; this only reads.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use super::errors::describe;
use super::read::{TenantError, TenantReader};

/// DescribeAlarms takes at most 100 names a call.
const NAMES_PER_CALL: usize = 100;

/// One alarm as CloudWatch holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub name: String,
    /// In ALARM (OK and INSUFFICIENT_DATA are not).
    pub firing: bool,
    pub reason: String,
    /// When the state last changed (CloudWatch's clock, epoch seconds and nanoseconds): tells a
    /// move into ALARM from a state that was already there.
    pub since: (i64, u32),
}

impl TenantReader {
    /// The alarms of `names` that exist, by name; a name missing from the map has no alarm.
    pub async fn alarms(&self, names: &[String]) -> Result<BTreeMap<String, Alarm>, TenantError> {
        let cw = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&self.cfg)
                .interceptor(self.calls.clone())
                .build(),
        );
        let mut out = BTreeMap::new();
        for batch in names.chunks(NAMES_PER_CALL) {
            let mut token = None;
            loop {
                let page = cw
                    .describe_alarms()
                    .set_alarm_names(Some(batch.to_vec()))
                    // Without AlarmTypes, DescribeAlarms answers metric alarms only.
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .max_records(100)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| {
                        self.fail(describe("cloudwatch:DescribeAlarms", self.role(), &e))
                    })?;
                let metric = page.metric_alarms().iter().map(|a| {
                    (
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                    )
                });
                let composite = page.composite_alarms().iter().map(|a| {
                    (
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                    )
                });
                for (name, state, reason, since) in metric.chain(composite) {
                    let Some(name) = name else { continue };
                    out.insert(
                        name.to_owned(),
                        Alarm {
                            name: name.to_owned(),
                            firing: state == Some(&StateValue::Alarm),
                            reason: reason.unwrap_or_default().to_owned(),
                            since: since.map_or((0, 0), |t| (t.secs(), t.subsec_nanos())),
                        },
                    );
                }
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }
}
