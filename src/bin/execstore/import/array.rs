//! A JSON array of records, streamed element by element, so a response of any size
//! imports in bounded memory.

use std::fmt;
use std::io::Read;

use anyhow::Context;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{checked, reason, Importer};

/// Feeds every element to `importer`; an element that is not a record is skipped alone.
pub fn import_array(input: impl Read, importer: &mut Importer<'_>) -> anyhow::Result<()> {
    let mut failure = None;
    let mut json = serde_json::Deserializer::from_reader(input);
    let parsed = json
        .deserialize_seq(Elements { importer: &mut *importer, failure: &mut failure })
        .and_then(|()| json.end());
    if let Some(error) = failure {
        return Err(error);
    }
    parsed.with_context(|| {
        let imported = importer.imported;
        format!("{} is not a JSON array ({imported} imported before the fault)", importer.source())
    })
}

/// The visitor over the array; a storage failure is kept aside, since serde's error type
/// would reduce it to a message about JSON.
struct Elements<'i, 'a> {
    importer: &'i mut Importer<'a>,
    failure: &'i mut Option<anyhow::Error>,
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of executions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<(), A::Error> {
        let mut at = 0;
        while let Some(value) = elements.next_element::<serde_json::Value>()? {
            at += 1;
            let parsed = serde_json::from_value(value).map_err(|e| reason(&e)).and_then(checked);
            if let Err(error) = self.importer.accept(at, parsed) {
                *self.failure = Some(error);
                return Err(de::Error::custom("import stopped"));
            }
        }
        Ok(())
    }
}
