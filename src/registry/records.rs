//! The `_schemas` topic's records, in Confluent Schema Registry's JSON
//! format, so that the topic reads the same to either registry.
//!
//! Keys: `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}`,
//! `{"keytype":"CONFIG","subject":S|null,"magic":0}`,
//! `{"keytype":"DELETE_SUBJECT","subject":S,"magic":0}` (and `NOOP`, ignored).
//! Values: a schema `{"subject","version","id","schemaType"?,"schema","references"?,"deleted"}`
//! (`schemaType` left out for Avro, `references` when there are none, as
//! Confluent does), a config
//! `{"compatibilityLevel":L}`, a subject deletion `{"subject","version"}`
//! (every version up to it is deleted). An empty value is a tombstone.

use serde::{Deserialize, Serialize};

/// A record key of the `_schemas` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype")]
pub enum Key {
    /// One version of a subject.
    #[serde(rename = "SCHEMA")]
    Schema {
        /// The subject.
        subject: String,
        /// Its version.
        version: i32,
        /// Format version (1).
        magic: i32,
    },
    /// A compatibility level: of a subject, or global (`subject: null`).
    #[serde(rename = "CONFIG")]
    Config {
        /// The subject, or None for the global level.
        subject: Option<String>,
        /// Format version (0).
        magic: i32,
    },
    /// A soft deletion of a subject's versions.
    #[serde(rename = "DELETE_SUBJECT")]
    DeleteSubject {
        /// The subject.
        subject: String,
        /// Format version (0).
        magic: i32,
    },
    /// A record that carries nothing (Confluent writes them to sync readers).
    #[serde(rename = "NOOP")]
    Noop {
        /// Format version (0).
        magic: i32,
    },
}

/// The value of a `SCHEMA` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    /// The subject.
    pub subject: String,
    /// Its version.
    pub version: i32,
    /// The global schema id.
    pub id: i32,
    /// `JSON` or `PROTOBUF`; absent for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// The schema text (canonical form).
    pub schema: String,
    /// The schemas it imports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// A schema reference, as Confluent writes it in records and requests:
/// the name the schema imports, and the subject version that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaReference {
    /// The import's name (`common/money.proto`).
    pub name: String,
    /// The subject holding it.
    pub subject: String,
    /// Its version there.
    pub version: i32,
}

/// The value of a `CONFIG` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    /// The level's name (`BACKWARD`, ...).
    pub compatibility_level: String,
}

/// The value of a `DELETE_SUBJECT` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    /// The subject.
    pub subject: String,
    /// Versions up to this one are deleted.
    pub version: i32,
}

/// A record to append: encoded key and value (None: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The JSON key.
    pub key: Vec<u8>,
    /// The JSON value.
    pub value: Option<Vec<u8>>,
}

impl Encoded {
    /// Encodes a key and its value.
    pub fn new<V: Serialize>(key: &Key, value: &V) -> Encoded {
        Encoded {
            key: serde_json::to_vec(key).unwrap_or_default(),
            value: Some(serde_json::to_vec(value).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_confluents() {
        let k = Key::Schema {
            subject: "s".into(),
            version: 2,
            magic: 1,
        };
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"s","version":2,"magic":1}"#
        );
        let c = Key::Config {
            subject: None,
            magic: 0,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        let v = SchemaValue {
            subject: "s".into(),
            version: 1,
            id: 3,
            schema_type: None,
            schema: "\"int\"".into(),
            references: vec![],
            deleted: false,
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"subject":"s","version":1,"id":3,"schema":"\"int\"","deleted":false}"#
        );
        let back: Key =
            serde_json::from_str(r#"{"keytype":"DELETE_SUBJECT","subject":"x","magic":0}"#)
                .unwrap();
        assert_eq!(
            back,
            Key::DeleteSubject {
                subject: "x".into(),
                magic: 0
            }
        );
    }
}
