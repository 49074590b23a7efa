//! Streaming reader for the JSON layouts.
//!
//! A heavy user's `user_data_tiktok.json` is hundreds of megabytes, almost all of it
//! one list (watch history). The file is walked with serde seeds: the category and
//! section maps are visited key by key, and each list is deserialized one element at
//! a time and handed to the sink, so memory stays flat whatever the export's size.
//! Only sections kept raw and single rows are ever held whole.
//!
//! Shape handled (see `layout.rs` for the names): root map › category map › section
//! map › list of row objects. Inside a section, scalar siblings of the list (`App`,
//! `IsFastLane`) are container metadata and are skipped; `ProfileMap` is the one-row
//! profile; `ChatHistory` is a map from `"Chat History with <user>:"` to that chat's
//! messages. A section given directly as a list is accepted too.

use std::fmt;
use std::io::{self, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Layout};
use super::record::{self, norm, Section, PATH_SEP};
use super::{Emitter, ExportError};

/// Parses one JSON export file from `reader`, emitting every record.
/// `file` names the file in error messages.
pub(crate) fn parse(
    reader: &mut dyn Read,
    file: &str,
    em: &mut Emitter<'_>,
) -> Result<Layout, ExportError> {
    let mut counted = Counting {
        inner: reader,
        count: 0,
    };
    let mut cursor = Cursor {
        em,
        path: Vec::new(),
        top: Vec::new(),
    };
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut counted);
        Walk {
            cur: &mut cursor,
            place: Place::Root,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
    };
    match result {
        Ok(()) => Ok(layout::json_layout(&cursor.top)),
        Err(e) => {
            if let Some(message) = cursor.em.failed.take() {
                return Err(ExportError::Sink {
                    file: file.to_string(),
                    key_path: cursor.path.join(PATH_SEP),
                    message,
                });
            }
            if e.is_io() {
                return Err(ExportError::Io {
                    path: file.to_string(),
                    source: io::Error::other(e.to_string()),
                });
            }
            Err(ExportError::Json {
                file: file.to_string(),
                offset: counted.count,
                line: e.line(),
                column: e.column(),
                key_path: cursor.path.join(PATH_SEP),
                detail: strip_position(&e.to_string()),
            })
        }
    }
}

/// serde_json appends " at line L column C"; the error reports those itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Counts the bytes the parser has consumed, so errors can name a byte offset.
struct Counting<'r> {
    inner: &'r mut dyn Read,
    count: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

struct Cursor<'c, 's> {
    em: &'c mut Emitter<'s>,
    /// The key path being read, original spellings; names the place of any error.
    path: Vec<String>,
    /// Normalised top-level keys, which tell the layouts apart.
    top: Vec<String>,
}

impl Cursor<'_, '_> {
    fn key_path(&self) -> String {
        self.path.join(PATH_SEP)
    }

    fn emit<E: de::Error>(&mut self, rec: record::Record) -> Result<(), E> {
        self.em
            .emit(rec)
            .map_err(|_| E::custom("the catalogue sink stopped the parse"))
    }

    /// Keeps a section we do not understand, unless it holds nothing.
    fn keep_raw<E: de::Error>(&mut self, value: Value) -> Result<(), E> {
        if record::is_empty(&value) {
            return Ok(());
        }
        let path = self.key_path();
        self.em.kept_raw(&path);
        self.emit(record::raw(path, value))
    }

    fn row<E: de::Error>(
        &mut self,
        section: &Section,
        value: Value,
        partner: Option<&str>,
    ) -> Result<(), E> {
        match value {
            Value::Object(fields) => {
                let mut rec = record::build(section.clone(), fields);
                if let Some(p) = partner {
                    rec.username = Some(p.to_string());
                }
                self.emit(rec)
            }
            other => self.keep_raw(other),
        }
    }
}

/// Where in the export's shape a value sits, which decides what it means.
#[derive(Clone)]
enum Place {
    Root,
    Category,
    Section(Section),
    /// Inside a known section: a list of rows, or container metadata.
    Rows(Section),
    /// `ChatHistory`: chats keyed by partner.
    Chats,
    /// One chat's messages.
    Chat(String),
}

struct Walk<'w, 'c, 's> {
    cur: &'w mut Cursor<'c, 's>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The partner's name from a chat key: `"Chat History with alice:"` → `alice`.
/// ASCII lowercasing keeps byte offsets, so the match position is valid in `key`.
fn chat_partner(key: &str) -> String {
    const PREFIX: &str = "chat history with ";
    let k = key.trim().trim_end_matches(':').trim_end();
    match k.to_ascii_lowercase().find(PREFIX) {
        Some(i) => k[i + PREFIX.len()..].trim().to_string(),
        None => k.to_string(),
    }
}

#[cfg(test)]
#[test]
fn chat_keys_name_the_partner() {
    assert_eq!(
        chat_partner("Chat History with bruno_cooks:"),
        "bruno_cooks"
    );
    assert_eq!(chat_partner("chat history with Élodie::"), "Élodie");
    assert_eq!(chat_partner("group-42"), "group-42");
}

impl Walk<'_, '_, '_> {
    /// A scalar (or null) where a container might have been.
    fn scalar<E: de::Error>(self, value: Value) -> Result<(), E> {
        match self.place {
            Place::Root => Err(E::custom(
                "the top level is not a JSON object, so this is not a TikTok export",
            )),
            // Container metadata such as `"App": "TikTok"`, `"IsFastLane": false`.
            Place::Rows(_) => Ok(()),
            _ => self.cur.keep_raw(value),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TikTok export value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let cur = self.cur;
        match self.place {
            Place::Root | Place::Category | Place::Section(_) | Place::Chats => {
                while let Some(key) = map.next_key::<String>()? {
                    cur.path.push(key);
                    let key = cur.path.last().map(String::as_str).unwrap_or_default();
                    let next = match &self.place {
                        Place::Root => {
                            cur.top.push(norm(key));
                            Some(Place::Category)
                        }
                        Place::Category => {
                            let category = &cur.path[cur.path.len() - 2];
                            layout::json_section(category, key).map(Place::Section)
                        }
                        Place::Section(Section::Profile) if norm(key) == "profilemap" => None,
                        Place::Section(Section::Messages) if norm(key) == "chathistory" => {
                            Some(Place::Chats)
                        }
                        Place::Section(s) => Some(Place::Rows(s.clone())),
                        Place::Chats => Some(Place::Chat(chat_partner(key))),
                        Place::Rows(_) | Place::Chat(_) => unreachable!("handled below"),
                    };
                    if matches!(next, Some(Place::Section(_))) {
                        let path = cur.key_path();
                        cur.em.understood(&path);
                    }
                    match next {
                        Some(place) => map.next_value_seed(Walk {
                            cur: &mut *cur,
                            place,
                        })?,
                        None => {
                            let value: Value = map.next_value()?;
                            if matches!(self.place, Place::Section(Section::Profile))
                                && value.is_object()
                            {
                                cur.row(&Section::Profile, value, None)?;
                            } else {
                                cur.keep_raw(value)?;
                            }
                        }
                    }
                    cur.path.pop();
                }
                Ok(())
            }
            Place::Rows(_) | Place::Chat(_) => {
                let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                cur.keep_raw(v)
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cur = self.cur;
        let (section, partner) = match self.place {
            Place::Section(s) | Place::Rows(s) => (s, None),
            Place::Chat(p) => (Section::Messages, Some(p)),
            Place::Root => {
                return Err(de::Error::custom(
                    "the top level is a list, not a TikTok export object",
                ))
            }
            Place::Category | Place::Chats => {
                let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                return cur.keep_raw(v);
            }
        };
        // One element at a time: this loop is what keeps memory flat.
        while let Some(value) = seq.next_element::<Value>()? {
            cur.row(&section, value, partner.as_deref())?;
        }
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.scalar(Value::String(v))
    }
}
