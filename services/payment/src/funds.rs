//! The names the ledger and instructions are made of: funds, payees, states and the kinds of a
//! household's monthly payment (policy.md, "Payments").

use doudi_core::named;
use doudi_proto::payment::v1 as pb;

named!(
    /// A fund with a yearly budget set by the county.
    Fund {
        Dibao = "DIBAO",
        Tekun = "TEKUN",
        PriceSubsidy = "PRICE_SUBSIDY",
        MedicalAssistance = "MEDICAL_ASSISTANCE",
        PremiumSubsidy = "PREMIUM_SUBSIDY",
        Relief = "RELIEF",
    }
);

named!(
    /// Who an instruction pays.
    PayeeKind { Household = "HOUSEHOLD", Hospital = "HOSPITAL", Insurer = "INSURER", Account = "ACCOUNT" }
);

named!(
    /// Where an instruction is in its life.
    State {
        Draft = "DRAFT",
        Approved = "APPROVED",
        Sent = "SENT",
        Paid = "PAID",
        Held = "HELD",
        Failed = "FAILED",
        Returned = "RETURNED",
        Cancelled = "CANCELLED",
    }
);

named!(
    /// The kinds of a household's monthly payment, each from the fund of the same name.
    Kind { Dibao = "DIBAO", Tekun = "TEKUN", PriceSubsidy = "PRICE_SUBSIDY" }
);

impl State {
    /// States whose amount is reserved in the fund's committed account (not yet paid, and not
    /// given up).
    pub fn reserves(self) -> bool {
        matches!(self, State::Draft | State::Approved | State::Sent)
    }

    /// Staff may cancel what has not gone to a bank.
    pub fn cancellable(self) -> bool {
        matches!(self, State::Draft | State::Approved | State::Held)
    }
}

impl Kind {
    pub fn fund(self) -> Fund {
        match self {
            Kind::Dibao => Fund::Dibao,
            Kind::Tekun => Fund::Tekun,
            Kind::PriceSubsidy => Fund::PriceSubsidy,
        }
    }
}

impl From<Fund> for pb::FundName {
    fn from(fund: Fund) -> Self {
        match fund {
            Fund::Dibao => pb::FundName::Dibao,
            Fund::Tekun => pb::FundName::Tekun,
            Fund::PriceSubsidy => pb::FundName::PriceSubsidy,
            Fund::MedicalAssistance => pb::FundName::MedicalAssistance,
            Fund::PremiumSubsidy => pb::FundName::PremiumSubsidy,
            Fund::Relief => pb::FundName::Relief,
        }
    }
}

impl Fund {
    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::FundName::try_from(value).ok()? {
            pb::FundName::Unspecified => None,
            pb::FundName::Dibao => Some(Fund::Dibao),
            pb::FundName::Tekun => Some(Fund::Tekun),
            pb::FundName::PriceSubsidy => Some(Fund::PriceSubsidy),
            pb::FundName::MedicalAssistance => Some(Fund::MedicalAssistance),
            pb::FundName::PremiumSubsidy => Some(Fund::PremiumSubsidy),
            pb::FundName::Relief => Some(Fund::Relief),
        }
    }
}

impl From<PayeeKind> for pb::PayeeKind {
    fn from(kind: PayeeKind) -> Self {
        match kind {
            PayeeKind::Household => pb::PayeeKind::Household,
            PayeeKind::Hospital => pb::PayeeKind::Hospital,
            PayeeKind::Insurer => pb::PayeeKind::Insurer,
            PayeeKind::Account => pb::PayeeKind::Account,
        }
    }
}

impl PayeeKind {
    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::PayeeKind::try_from(value).ok()? {
            pb::PayeeKind::Unspecified => None,
            pb::PayeeKind::Household => Some(PayeeKind::Household),
            pb::PayeeKind::Hospital => Some(PayeeKind::Hospital),
            pb::PayeeKind::Insurer => Some(PayeeKind::Insurer),
            pb::PayeeKind::Account => Some(PayeeKind::Account),
        }
    }
}

impl From<State> for pb::InstructionState {
    fn from(state: State) -> Self {
        match state {
            State::Draft => pb::InstructionState::Draft,
            State::Approved => pb::InstructionState::Approved,
            State::Sent => pb::InstructionState::Sent,
            State::Paid => pb::InstructionState::Paid,
            State::Held => pb::InstructionState::Held,
            State::Failed => pb::InstructionState::Failed,
            State::Returned => pb::InstructionState::Returned,
            State::Cancelled => pb::InstructionState::Cancelled,
        }
    }
}

impl State {
    pub fn from_proto(value: i32) -> Option<Self> {
        State::ALL.iter().copied().find(|s| pb::InstructionState::from(*s) as i32 == value)
    }
}

/// `YYYY-MM`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(text: &str) -> Option<Self> {
        let (y, m) = text.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    pub fn first_day(self) -> doudi_core::Date {
        format!("{self}-01").parse().expect("a checked month has a first day")
    }

    /// The month `n` months later (earlier when negative).
    pub fn plus(self, n: i32) -> Self {
        let index = self.year * 12 + self.month as i32 - 1 + n;
        Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
    }

    pub fn of(day: doudi_core::Date) -> Self {
        Month { year: day.year(), month: day.month() }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_step_over_years() {
        assert_eq!(Month::parse("2016-03"), Some(Month { year: 2016, month: 3 }));
        for bad in ["2016-3", "2016-13", "2016-00", "16-03", "2016/03", ""] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
        let march = Month::parse("2016-03").unwrap();
        assert_eq!(march.plus(-3).to_string(), "2015-12");
        assert_eq!(march.plus(-12).to_string(), "2015-03");
        assert_eq!(march.plus(10).to_string(), "2017-01");
    }

    #[test]
    fn names_round_trip_through_text_and_proto() {
        for fund in Fund::ALL {
            assert_eq!(Fund::parse(fund.as_str()), Some(*fund));
            assert_eq!(Fund::from_proto(pb::FundName::from(*fund) as i32), Some(*fund));
        }
        for state in State::ALL {
            assert_eq!(State::from_proto(pb::InstructionState::from(*state) as i32), Some(*state));
        }
        assert_eq!(Fund::from_proto(0), None);
    }
}
