//! Decoding a type whose named and positional layouts differ in shape.
//!
//! A value of schema version 3 is positional, one of an older file named (see `codec.rs`).
//! Where the two must be read into different Rust types (a part of a record, or a summary
//! stored without the fields its key holds), [`Layout`] reads whichever the bytes hold:
//! MessagePack says which, a map or an array, before the value is read.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A value read as `N` from a map (named layout) or as `P` from an array (positional).
#[derive(Debug, PartialEq)]
pub(crate) enum Layout<N, P> {
    Named(N),
    Positional(P),
}

impl<'de, N: Deserialize<'de>, P: Deserialize<'de>> Deserialize<'de> for Layout<N, P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LayoutVisitor(PhantomData))
    }
}

struct LayoutVisitor<N, P>(PhantomData<(N, P)>);

impl<'de, N: Deserialize<'de>, P: Deserialize<'de>> Visitor<'de> for LayoutVisitor<N, P> {
    type Value = Layout<N, P>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map (named layout) or an array (positional layout)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        N::deserialize(MapAccessDeserializer::new(map)).map(Layout::Named)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        P::deserialize(SeqAccessDeserializer::new(seq)).map(Layout::Positional)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::Layout;
    use crate::error::Result;
    use crate::redb::codec::{decode, encode, encode_positional};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair {
        a: u32,
        b: String,
    }

    /// The positional twin of `Pair` with `a` skipped.
    #[derive(Debug, PartialEq, Deserialize)]
    struct OnlyB(serde::de::IgnoredAny, String);

    fn key() -> String {
        "t/x".to_owned()
    }

    #[test]
    fn a_map_reads_as_named_and_an_array_as_positional() -> Result<()> {
        let pair = Pair { a: 7, b: "seven".to_owned() };
        let named: Layout<Pair, OnlyB> = decode(key, &encode("t", &pair)?)?;
        assert_eq!(named, Layout::Named(Pair { a: 7, b: "seven".to_owned() }));
        let positional: Layout<Pair, OnlyB> = decode(key, &encode_positional("t", &pair)?)?;
        match positional {
            Layout::Positional(OnlyB(_, b)) => assert_eq!(b, "seven"),
            other => panic!("read as {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn neither_a_map_nor_an_array_is_an_error() -> Result<()> {
        assert!(decode::<Layout<Pair, OnlyB>>(key, &encode("t", &42u32)?).is_err());
        Ok(())
    }
}
