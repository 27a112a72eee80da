//! The poverty office's list of registered-poor households (`household_no,national_id`), checked
//! line by line, and the comparison with dibao that the county asks for.

use crate::registry::csv::{LineError, csv_records};
use crate::registry::household::check_household_no;
use doudi_core::{Date, NationalId};
use std::collections::BTreeSet;

pub const POVERTY_HEADER: [&str; 2] = ["household_no", "national_id"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoorPerson {
    pub line: usize,
    pub household_no: String,
    pub national_id: NationalId,
}

/// Every row, or every error (`line N: field: reason`).
pub fn parse_poverty_list(text: &str, today: Date) -> Result<Vec<PoorPerson>, Vec<LineError>> {
    let records = csv_records(text).map_err(|e| vec![e])?;
    let Some(((header_line, header), data)) = records.split_first() else {
        return Err(vec![LineError::new(1, "header", "the file is empty")]);
    };
    if header.iter().map(|h| h.trim()).collect::<Vec<_>>() != POVERTY_HEADER {
        return Err(vec![LineError::new(
            *header_line,
            "header",
            format!("must be exactly {}", POVERTY_HEADER.join(",")),
        )]);
    }
    let (mut persons, mut errors) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for (line, fields) in data {
        if fields.len() != 2 {
            errors.push(LineError::new(*line, "row", format!("has {} fields, not 2", fields.len())));
            continue;
        }
        let household = check_household_no(fields[0].trim()).map_err(|e| LineError::new(*line, "household_no", e));
        let id = NationalId::parse_on(fields[1].trim(), today)
            .map_err(|e| LineError::new(*line, "national_id", e.to_string()));
        match (household, id) {
            (Ok(household_no), Ok(national_id)) => {
                if !seen.insert(national_id.expose().to_owned()) {
                    errors.push(LineError::new(*line, "national_id", "is listed twice"));
                } else {
                    persons.push(PoorPerson { line: *line, household_no, national_id });
                }
            }
            (h, i) => errors.extend(h.err().into_iter().chain(i.err())),
        }
    }
    if errors.is_empty() { Ok(persons) } else { Err(errors) }
}

/// What the match found, by household number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PovertyMatch {
    /// Newly marked REGISTERED_POOR, and already marked.
    pub marked: usize,
    pub already: usize,
    /// Listed persons the registry does not know (line, masked ID), or who are registered in
    /// another household than the list says.
    pub unknown: Vec<(usize, String)>,
    pub moved: Vec<(usize, String, String)>,
    /// Registered-poor households in which nobody holds dibao: candidates for an assessment.
    pub poor_without_dibao: Vec<String>,
    /// Dibao households that are not on the list.
    pub dibao_not_registered_poor: Vec<String>,
}

/// Households of the list without dibao, and dibao households not on the list.
pub fn compare(listed: &BTreeSet<String>, dibao_households: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (listed.difference(dibao_households).cloned().collect(), dibao_households.difference(listed).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::national_id::synthesize;

    #[test]
    fn lines_are_checked_and_named() {
        let today = "2016-06-01".parse().unwrap();
        let a = synthesize("360730", "1970-01-01".parse().unwrap(), 1);
        let text = format!("household_no,national_id\nH1,{}\nH 2,123\nH3,{}\n", a.expose(), a.expose());
        let errors = parse_poverty_list(&text, today).unwrap_err();
        let named: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(named.len(), 3, "{named:?}");
        assert!(named[0].starts_with("line 3: household_no"), "{named:?}");
        assert!(named[2].starts_with("line 4: national_id: is listed twice"), "{named:?}");
        let ok =
            parse_poverty_list(&format!("\u{feff}household_no,national_id\r\nH1,{}\r\n", a.expose()), today).unwrap();
        assert_eq!(ok[0].household_no, "H1");
        let listed: BTreeSet<String> = ["H1", "H2"].map(String::from).into();
        let dibao: BTreeSet<String> = ["H2", "H3"].map(String::from).into();
        assert_eq!(compare(&listed, &dibao), (vec!["H1".to_owned()], vec!["H3".to_owned()]));
    }
}
