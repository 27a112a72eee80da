//! The public notice over gRPC.

use crate::error::Result;
use crate::notice::store::NoticeLine;
use crate::service::EligibilityService;
use crate::staff::rules::Staff;
use doudi_proto::eligibility::v1 as pb;

fn notice_line(line: NoticeLine, notice_until: String) -> pb::NoticeLine {
    pb::NoticeLine {
        household_no: line.household_no,
        name: line.name,
        national_id: line.national_id,
        category: pb::Category::from(line.category) as i32,
        notice_until,
    }
}

pub async fn get_notice_list(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::GetNoticeListRequest,
) -> Result<pb::NoticeList> {
    let notice = service.notice_list_for(staff, &r.township, &r.village, &r.date).await?;
    Ok(pb::NoticeList {
        township: notice.township,
        village: notice.village,
        date: notice.on.to_string(),
        applicants: notice.applications_in_notice.into_iter().map(|a| notice_line(a.line, a.notice_until)).collect(),
        recipients: notice.recipients.into_iter().map(|l| notice_line(l, String::new())).collect(),
    })
}
