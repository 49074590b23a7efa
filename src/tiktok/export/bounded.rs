//! Rows and verbatim sections as JSON values, built within a byte budget.
//!
//! A section kept verbatim can be most of a gigabyte export. The catalogue keeps at
//! most [`VALUE_CAP`] bytes of any one value (a row or a verbatim section): past the
//! budget the rest is read and dropped without being held, and the cut is noted. The
//! export file itself is stored whole in the snapshot, so nothing is lost.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The most the catalogue keeps of one value, in bytes of JSON text (about).
pub(crate) const VALUE_CAP: u64 = 4 << 20;

/// What each part of a value costs, in bytes of JSON text (about).
const CONTAINER: usize = 2;
const NULL: usize = 4;
const BOOL: usize = 5;
const NUMBER: usize = 8;
/// A string's cost beyond its length: its quotes; a key's, its quotes and colon.
const STRING: usize = 2;
const KEY: usize = 3;

/// What is left to spend on one value, and whether it ran out.
pub(crate) struct Budget {
    left: u64,
    pub cut: bool,
}

impl Budget {
    pub(crate) fn new() -> Budget {
        Budget {
            left: VALUE_CAP,
            cut: false,
        }
    }

    pub(crate) fn seed(&mut self) -> Bounded<'_> {
        Bounded { budget: self }
    }

    pub(crate) fn skim(&mut self) -> Skim<'_> {
        Skim { budget: self }
    }

    /// True once nothing is left: a [`Skim`]med value may then have been cut.
    pub(crate) fn spent(&self) -> bool {
        self.left == 0
    }

    fn spend(&mut self, n: usize) {
        self.left = self.left.saturating_sub(n as u64);
    }
}

/// Deserializes one [`Value`] within its [`Budget`].
pub(crate) struct Bounded<'b> {
    budget: &'b mut Budget,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let b = self.budget;
        b.spend(CONTAINER);
        let mut out = Vec::new();
        while b.left > 0 {
            match seq.next_element_seed(b.seed())? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            b.cut = true;
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let b = self.budget;
        b.spend(CONTAINER);
        let mut out = Map::new();
        while b.left > 0 {
            let Some(key) = map.next_key::<String>()? else {
                return Ok(Value::Object(out));
            };
            b.spend(key.len() + KEY);
            let value = map.next_value_seed(b.seed())?;
            out.insert(key, value);
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            b.cut = true;
        }
        Ok(Value::Object(out))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(NULL);
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.spend(BOOL);
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.spend(NUMBER);
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.spend(NUMBER);
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.spend(NUMBER);
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.visit_string(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.spend(v.len() + STRING);
        Ok(Value::String(v))
    }
}

/// Reads one value as [`Bounded`] does, with the same checks (every string and
/// number read in full) and spending the same budget, but keeping nothing: the rows
/// a caller did not ask for. It never cuts: a value that spends the whole budget may
/// have been cut by [`Bounded`], which [`Budget::spent`] tells.
pub(crate) struct Skim<'b> {
    budget: &'b mut Budget,
}

impl<'de> DeserializeSeed<'de> for Skim<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, read as [`Bounded`] reads it: its length.
struct KeyLen;

impl<'de> DeserializeSeed<'de> for KeyLen {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for KeyLen {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Ok(v.len())
    }
}

impl<'de> Visitor<'de> for Skim<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let b = self.budget;
        b.spend(CONTAINER);
        while seq.next_element_seed(b.skim())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.budget;
        b.spend(CONTAINER);
        while let Some(key) = map.next_key_seed(KeyLen)? {
            b.spend(key + KEY);
            map.next_value_seed(b.skim())?;
        }
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.budget.spend(NULL);
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.budget.spend(BOOL);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.budget.spend(NUMBER);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.budget.spend(NUMBER);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.budget.spend(NUMBER);
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.budget.spend(v.len() + STRING);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_past_the_budget_is_cut_and_says_so() {
        let row = format!("\"{}\"", "x".repeat(1000));
        let list = format!("[{}]", vec![row; 10_000].join(","));
        let mut budget = Budget::new();
        let mut de = serde_json::Deserializer::from_str(&list);
        let v = budget.seed().deserialize(&mut de).unwrap();
        assert!(budget.cut);
        let kept = v.as_array().unwrap().len() as u64;
        assert!(kept < 10_000 && kept * 1002 >= VALUE_CAP, "{kept}");

        let mut budget = Budget::new();
        let mut de = serde_json::Deserializer::from_str(r#"{"a": [1, {"b": null}]}"#);
        let v = budget.seed().deserialize(&mut de).unwrap();
        assert!(!budget.cut);
        assert_eq!(v, serde_json::json!({"a": [1, {"b": null}]}));
    }

    #[test]
    fn a_skim_spends_what_the_bounded_read_does() {
        let big = format!("[{}]", vec!["\"xxxx\""; 1 << 20].join(","));
        let texts = [
            r#"{"a": [1, -2, 2.5, {"b": null}], "ccc": true, "d": "é\"x"}"#,
            "[]",
            "\"\"",
            big.as_str(),
        ];
        for text in texts {
            let (mut bounded, mut skim) = (Budget::new(), Budget::new());
            bounded
                .seed()
                .deserialize(&mut serde_json::Deserializer::from_str(text))
                .unwrap();
            skim.skim()
                .deserialize(&mut serde_json::Deserializer::from_str(text))
                .unwrap();
            if bounded.cut {
                assert!(skim.spent(), "a cut value spends the budget");
            } else {
                assert_eq!(bounded.left, skim.left, "{}", &text[..text.len().min(60)]);
            }
        }
        // Skimming checks what reading does: a bad escape fails both.
        let bad = r#"{"a": "\q"}"#;
        let mut b = Budget::new();
        assert!(b
            .skim()
            .deserialize(&mut serde_json::Deserializer::from_str(bad))
            .is_err());
    }
}
