//! A village's public notice on a day.

use crate::error::Result;
use crate::notice::store::NoticeLine;
use crate::procedure::ops::check_township_village;
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use crate::staff::rules::Staff;
use doudi_core::{Date, Violations};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeApplicant {
    #[serde(flatten)]
    pub line: NoticeLine,
    pub notice_until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VillageNotice {
    pub township: String,
    pub village: String,
    pub on: Date,
    pub applications_in_notice: Vec<NoticeApplicant>,
    pub recipients: Vec<NoticeLine>,
}

impl EligibilityService {
    /// A village's notice, for staff of its township or the county; `date` empty means today.
    pub async fn notice_list_for(
        &self,
        staff: &Staff,
        township: &str,
        village: &str,
        date: &str,
    ) -> Result<VillageNotice> {
        staff.may_act_in(township.trim())?;
        let day = if date.is_empty() {
            self.clock().today()
        } else {
            date.parse().map_err(|_| Violations::of("date", "must be YYYY-MM-DD"))?
        };
        self.notice_list(township, village, day).await
    }

    /// A village's public notice on `day`: applications under notice (with the proposed class)
    /// and the persons receiving TEKUN or dibao, names and IDs masked.
    pub async fn notice_list(&self, township: &str, village: &str, day: Date) -> Result<VillageNotice> {
        let (township, village) = check_township_village(township, village)?;
        let in_notice = self.store().village_applications_in_notice(&township, &village).await?;
        let recipients = self.store().village_recipients(&township, &village, day).await?;
        Ok(VillageNotice {
            township,
            village,
            on: day,
            applications_in_notice: in_notice
                .into_iter()
                .map(|(line, until)| NoticeApplicant { line, notice_until: until })
                .collect(),
            recipients,
        })
    }
}
