//! A small streaming walk over an XML document for the bank's answers: each element's opening
//! and closing with its path of local names, its text and its `Ccy` attribute. Namespaces are
//! told apart by the root's `xmlns` only (ISO 20022 documents use one default namespace);
//! DTDs are refused (nothing in a bank's answer needs one, and they are how entity attacks come).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// One step of the walk.
pub enum Step<'a> {
    Open(&'a [String]),
    /// The element's path (itself last), its text (trimmed), and its `Ccy` attribute.
    Close(&'a [String], &'a str, Option<&'a str>),
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("an attribute cannot be read: {e}"))?;
        if a.key.local_name().as_ref() == name || a.key.as_ref() == name {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| format!("an attribute cannot be read: {e}"))?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// Walks `xml`, calling `visit` for each element; returns the root's namespace.
pub fn walk(xml: &str, mut visit: impl FnMut(Step<'_>) -> Result<(), String>) -> Result<String, String> {
    // Not trimmed per event: an entity splits a text into several, and the spaces beside it count.
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut currencies: Vec<Option<String>> = Vec::new();
    let mut text = String::new();
    let mut namespace: Option<String> = None;
    let at = |reader: &Reader<&[u8]>| reader.buffer_position();
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML at byte {}: {e}", at(&reader)))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if namespace.is_none() {
                    namespace = Some(attribute(e, "xmlns")?.unwrap_or_default());
                }
                path.push(e.local_name().as_ref().to_owned());
                currencies.push(attribute(e, "Ccy")?);
                text.clear();
                visit(Step::Open(&path))?;
                if matches!(event, Event::Empty(_)) {
                    visit(Step::Close(&path, "", currencies.last().and_then(|c| c.as_deref())))?;
                    path.pop();
                    currencies.pop();
                }
            }
            Event::End(_) => {
                visit(Step::Close(&path, text.trim(), currencies.last().and_then(|c| c.as_deref())))?;
                text.clear();
                path.pop();
                currencies.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| format!("a character reference: {e}"))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("an unknown entity &{};", &*r))?
                        .to_owned(),
                };
                text.push_str(&resolved);
            }
            Event::DocType(_) => return Err("a document type declaration: bank answers carry none".into()),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !path.is_empty() {
        return Err(format!("the document ends inside <{}>", path.join("/")));
    }
    namespace.ok_or_else(|| "the file holds no XML element".into())
}

/// Whether `path` ends with `suffix` (local names).
pub fn ends_with(path: &[String], suffix: &[&str]) -> bool {
    path.len() >= suffix.len() && path[path.len() - suffix.len()..].iter().zip(suffix).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_paths_currencies_and_entities() {
        let xml =
            "<?xml version=\"1.0\"?><D xmlns=\"urn:x\"><A><B Ccy=\"CNY\">1.00</B><C>a &amp; b&#x4e00;</C><E/></A></D>";
        let mut seen = Vec::new();
        let ns = walk(xml, |step| {
            if let Step::Close(path, text, ccy) = step {
                seen.push((path.join("/"), text.to_owned(), ccy.map(str::to_owned)));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(ns, "urn:x");
        assert_eq!(seen[0], ("D/A/B".into(), "1.00".into(), Some("CNY".into())));
        assert_eq!(seen[1], ("D/A/C".into(), "a & b一".into(), None));
        assert_eq!(seen[2].0, "D/A/E");
        assert!(ends_with(&["D".into(), "A".into(), "B".into()], &["A", "B"]));
    }

    #[test]
    fn malformed_documents_and_dtds_are_refused() {
        assert!(walk("<D><A></D>", |_| Ok(())).is_err());
        assert!(walk("<D><A>", |_| Ok(())).is_err());
        assert!(walk("<!DOCTYPE d [<!ENTITY x \"y\">]><D>&x;</D>", |_| Ok(())).is_err());
        assert!(walk("", |_| Ok(())).is_err());
    }
}
