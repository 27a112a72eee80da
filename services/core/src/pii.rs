//! Personal data (names, bank accounts) in types whose `Debug` and `Display` mask, and the
//! masking rules used in every list, log line and error message.

use std::fmt;

/// A person's name. Shown as the family name followed by one `*` per further character.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
    #[error("must be 8 to 32 digits")]
    AccountFormat,
}

impl PersonName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Self, PiiError> {
        let name = text.trim();
        if name.is_empty() {
            return Err(PiiError::Empty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(PiiError::TooLong(Self::MAX_CHARS));
        }
        if name.chars().any(char::is_control) {
            return Err(PiiError::Control);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}

/// A bank account number. Shown as its last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct BankAccount(String);

impl BankAccount {
    pub fn parse(text: &str) -> Result<Self, PiiError> {
        let digits = text.trim();
        if !(8..=32).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PiiError::AccountFormat);
        }
        Ok(Self(digits.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_account(&self.0)
    }
}

/// `张三丰` → `张**`; a single character stays as it is (nothing to hide behind).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// `6228480012345678` → `****5678`.
pub fn mask_account(account: &str) -> String {
    let tail: String = account.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}

/// National ID text as received, not yet checked: masked as a `NationalId` is when it has the
/// length of one (`110105********123X`), else only its length is shown.
pub fn mask_id_text(text: &str) -> String {
    match (text.len(), text.is_ascii()) {
        (18, true) => format!("{}********{}", &text[..6], &text[14..]),
        (n, _) => format!("({n} bytes)"),
    }
}

/// Each of a list of ID texts, masked.
pub fn mask_id_texts(texts: &[String]) -> Vec<String> {
    texts.iter().map(|t| mask_id_text(t)).collect()
}

macro_rules! masked_formatting {
    ($type:ident) => {
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($type), "({})"), self.masked())
            }
        }
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.masked())
            }
        }
    };
}
masked_formatting!(PersonName);
masked_formatting!(BankAccount);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let name = PersonName::parse(" 欧阳娜娜 ").unwrap();
        assert_eq!(name.expose(), "欧阳娜娜");
        assert_eq!(format!("{name} {name:?}"), "欧*** PersonName(欧***)");
        let account = BankAccount::parse("6228480012345678").unwrap();
        assert_eq!(format!("{account:?}"), "BankAccount(****5678)");
        assert_eq!(BankAccount::parse("12ab5678"), Err(PiiError::AccountFormat));
        assert_eq!(PersonName::parse("  "), Err(PiiError::Empty));
        assert_eq!(mask_id_text("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id_text("123"), "(3 bytes)");
    }
}
