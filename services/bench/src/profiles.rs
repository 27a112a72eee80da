//! What a settlement run sends (`doudi-bench settlement --profiles …`), beyond the default's
//! uniform new bills: every bill a person's first of the year (no last-known figures to start
//! from), a hot set (10 % of bills on 100 persons, from several hospitals at once), and
//! reversals of bills settled earlier in the run mixed in (5 %).

use crate::eligibility::national_id;
use doudi_proto::hospital::v1::ReverseRequest;
use doudi_proto::hospital::v1::hospital_settlement_client::HospitalSettlementClient;
use doudi_proto::settlement::v1 as pb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// New bills of persons drawn uniformly (a person's later bills start from their year so far).
    Default,
    /// Every bill the first of its person this year.
    NewPersons,
    /// 10 % of bills on 100 persons, each hospital of the run sending.
    HotSet,
    /// 5 % of calls reverse a bill settled earlier in the run.
    Reversals,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::NewPersons => "new_persons",
            Profile::HotSet => "hot_set",
            Profile::Reversals => "reversals",
        }
    }
}

/// What the calls of a run share: the next never-billed person, and settled bills to reverse.
#[derive(Debug, Default)]
pub struct Shared {
    next_new_person: AtomicU64,
    settled: Mutex<Vec<String>>,
    pub reversed: AtomicU64,
}

impl Shared {
    /// Persons given a first bill so far (the new-persons profile wraps after `persons`).
    pub fn new_persons_used(&self) -> u64 {
        self.next_new_person.load(Ordering::Relaxed)
    }
}

/// The person billed by call `seq` of `profile`.
fn person(profile: Profile, persons: u32, seq: u64, shared: &Shared) -> u32 {
    let mix = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match profile {
        Profile::NewPersons => (shared.next_new_person.fetch_add(1, Ordering::Relaxed) % u64::from(persons)) as u32,
        Profile::HotSet if mix.is_multiple_of(10) => (mix >> 8) as u32 % persons.min(100),
        _ => (mix >> 8) as u32 % persons,
    }
}

/// A new bill: distinct bill numbers, amounts and days.
pub fn bill(run: &str, profile: Profile, persons: u32, seq: u64, shared: &Shared) -> pb::Bill {
    let mix = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let in_policy = 10_000 + (mix >> 20) as i64 % 1_000_000;
    let day = doudi_core::Date::from_ymd(2016, 1, 1).expect("date").add_days((mix >> 44) as i64 % 360).to_string();
    pb::Bill {
        bill_no: format!("{run}-{seq:x}"),
        national_id: national_id(person(profile, persons, seq, shared)),
        visit_type: pb::VisitType::Inpatient as i32,
        admitted_on: day.clone(),
        discharged_on: day,
        total_fen: in_policy + 5_000,
        in_policy_fen: in_policy,
    }
}

/// One call of the profile as `key`'s hospital: a settlement, or (reversals) a reversal of an
/// earlier one. True when it did what it was sent for.
pub async fn call(
    channel: Channel,
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    run: Arc<str>,
    profile: Profile,
    persons: u32,
    seq: u64,
    shared: Arc<Shared>,
) -> bool {
    let mut client = HospitalSettlementClient::new(channel);
    if profile == Profile::Reversals && seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).is_multiple_of(20) {
        let earlier = shared.settled.lock().expect("settled").pop();
        if let Some(settlement_id) = earlier {
            let mut request = tonic::Request::new(ReverseRequest { settlement_id, reason: "benchmark".into() });
            request.metadata_mut().insert("authorization", authorization);
            let reversed = client
                .reverse(request)
                .await
                .is_ok_and(|r| r.get_ref().status == pb::SettlementStatus::Reversed as i32);
            if reversed {
                shared.reversed.fetch_add(1, Ordering::Relaxed);
            }
            return reversed;
        }
    }
    let mut request = tonic::Request::new(bill(&run, profile, persons, seq, &shared));
    request.metadata_mut().insert("authorization", authorization);
    match client.settle(request).await {
        Ok(answer) if answer.get_ref().status == pb::SettlementStatus::Settled as i32 => {
            if profile == Profile::Reversals {
                let mut settled = shared.settled.lock().expect("settled");
                if settled.len() < 100_000 {
                    settled.push(answer.into_inner().settlement_id);
                }
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_picks_its_persons() {
        let shared = Shared::default();
        let firsts: Vec<u32> = (0..5).map(|s| person(Profile::NewPersons, 1_000, s, &shared)).collect();
        assert_eq!(firsts, [0, 1, 2, 3, 4], "never billed before");
        let hot = (0..10_000u64).filter(|s| person(Profile::HotSet, 100_000, *s, &shared) < 100).count();
        assert!((900..1_200).contains(&hot), "about 10 % on the hot 100: {hot}");
        let spread = (0..10_000u64).filter(|s| person(Profile::Default, 100_000, *s, &shared) < 100).count();
        assert!(spread < 50, "the default spreads: {spread}");
    }
}
