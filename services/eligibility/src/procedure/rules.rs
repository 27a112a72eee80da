//! The dibao procedure (policy.md): application → township acceptance → household investigation
//! → economic-status check → democratic appraisal → public notice (7 days; an upheld objection
//! sends it back to investigation) → township review → county approval, or rejection with a
//! reason at any step. Who may take which step, and when.

use crate::staff::rules::Role;
use doudi_core::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Days a public notice stays up; the township reviews from the day after.
pub const NOTICE_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Submitted,
    Accepted,
    Investigated,
    Checked,
    Appraised,
    InNotice,
    Reviewed,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Step {
    Accept,
    Investigate,
    CheckEconomy,
    Appraise,
    PublishNotice,
    Object,
    Review,
    Approve,
    Reject,
}

impl Step {
    /// The name used in step records, audit actions and the contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Accept => "ACCEPT",
            Step::Investigate => "INVESTIGATE",
            Step::CheckEconomy => "CHECK_ECONOMY",
            Step::Appraise => "APPRAISE",
            Step::PublishNotice => "PUBLISH_NOTICE",
            Step::Object => "OBJECT",
            Step::Review => "REVIEW",
            Step::Approve => "APPROVE",
            Step::Reject => "REJECT",
        }
    }
}

impl Stage {
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Approved | Stage::Rejected)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Submitted => "SUBMITTED",
            Stage::Accepted => "ACCEPTED",
            Stage::Investigated => "INVESTIGATED",
            Stage::Checked => "CHECKED",
            Stage::Appraised => "APPRAISED",
            Stage::InNotice => "IN_NOTICE",
            Stage::Reviewed => "REVIEWED",
            Stage::Approved => "APPROVED",
            Stage::Rejected => "REJECTED",
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        [
            Stage::Submitted,
            Stage::Accepted,
            Stage::Investigated,
            Stage::Checked,
            Stage::Appraised,
            Stage::InNotice,
            Stage::Reviewed,
            Stage::Approved,
            Stage::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the application is {stage}: {step:?} is not the next step")]
    OutOfOrder { stage: Stage, step: Step },
    #[error("only county staff approve")]
    CountyOnly,
    #[error("the public notice runs until {until}; the township reviews from the next day")]
    NoticeRunning { until: Date },
}

/// The stage after `step`. `notice_until` is the last day of the public notice, once published;
/// `upheld` tells whether an objection was upheld.
pub fn advance(
    stage: Stage,
    step: Step,
    role: Role,
    today: Date,
    notice_until: Option<Date>,
    upheld: bool,
) -> Result<Stage, StepError> {
    let out_of_order = Err(StepError::OutOfOrder { stage, step });
    if stage.is_final() {
        return out_of_order;
    }
    match (stage, step) {
        (_, Step::Reject) => Ok(Stage::Rejected),
        (Stage::Submitted, Step::Accept) => Ok(Stage::Accepted),
        (Stage::Accepted, Step::Investigate) => Ok(Stage::Investigated),
        (Stage::Investigated, Step::CheckEconomy) => Ok(Stage::Checked),
        (Stage::Checked, Step::Appraise) => Ok(Stage::Appraised),
        (Stage::Appraised, Step::PublishNotice) => Ok(Stage::InNotice),
        // An upheld objection sends the case back to investigation; a dismissed one is recorded.
        (Stage::InNotice, Step::Object) => Ok(if upheld { Stage::Accepted } else { Stage::InNotice }),
        (Stage::InNotice, Step::Review) => match notice_until {
            Some(until) if today > until => Ok(Stage::Reviewed),
            Some(until) => Err(StepError::NoticeRunning { until }),
            None => out_of_order,
        },
        (Stage::Reviewed, Step::Approve) if role == Role::County => Ok(Stage::Approved),
        (Stage::Reviewed, Step::Approve) => Err(StepError::CountyOnly),
        (_, Step::Approve) if role == Role::Township => Err(StepError::CountyOnly),
        _ => out_of_order,
    }
}

/// The last day of a notice published on `published_on`.
pub fn notice_until(published_on: Date) -> Date {
    published_on.add_days(NOTICE_DAYS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn the_whole_way_and_back() {
        let t = Role::Township;
        let d = day("2016-03-01");
        let mut stage = Stage::Submitted;
        for step in [Step::Accept, Step::Investigate, Step::CheckEconomy, Step::Appraise, Step::PublishNotice] {
            stage = advance(stage, step, t, d, None, false).unwrap();
        }
        assert_eq!(stage, Stage::InNotice);
        let until = notice_until(d);
        assert_eq!(until, day("2016-03-07"));
        assert_eq!(advance(stage, Step::Object, t, d, Some(until), false), Ok(Stage::InNotice));
        assert_eq!(advance(stage, Step::Review, t, until, Some(until), false), Err(StepError::NoticeRunning { until }));
        assert_eq!(advance(stage, Step::Object, t, d, Some(until), true), Ok(Stage::Accepted));
        let reviewed = advance(stage, Step::Review, t, day("2016-03-08"), Some(until), false).unwrap();
        assert_eq!(advance(reviewed, Step::Approve, t, d, None, false), Err(StepError::CountyOnly));
        assert_eq!(advance(reviewed, Step::Approve, Role::County, d, None, false), Ok(Stage::Approved));
        assert!(advance(Stage::Approved, Step::Reject, Role::County, d, None, false).is_err());
        assert_eq!(advance(Stage::Checked, Step::Reject, t, d, None, false), Ok(Stage::Rejected));
        assert_eq!(
            advance(Stage::Submitted, Step::Appraise, t, d, None, false),
            Err(StepError::OutOfOrder { stage: Stage::Submitted, step: Step::Appraise })
        );
        assert_eq!(advance(Stage::Checked, Step::Approve, t, d, None, false), Err(StepError::CountyOnly));
    }
}
