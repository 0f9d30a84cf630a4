//! The registry's state in memory: schemas by global id, subjects and their
//! versions, compatibility levels. It changes only by applying `_schemas`
//! records ([`State::apply`]), both when replaying the topic at start and
//! after a write was acknowledged, so a restart rebuilds exactly what was
//! served. Planning a change ([`State::plan_register`], ...) reads the state
//! and returns the records to write; it changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::compat::{self, Incompatible, Level, Parsed, SchemaError, SchemaType};
use super::records::{ConfigValue, DeleteSubjectValue, Encoded, Key, SchemaReference, SchemaValue};
use crate::schema::proto::Source;

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The schema's global id.
    pub id: i32,
    /// Soft-deleted.
    pub deleted: bool,
}

/// The registry's state.
#[derive(Debug, Default)]
pub struct State {
    schemas: BTreeMap<i32, Arc<Parsed>>,
    /// Ids by (type, [`Parsed::identity`]).
    ids: HashMap<(SchemaType, String), i32>,
    subjects: BTreeMap<String, BTreeMap<i32, Version>>,
    global: Option<Level>,
    levels: BTreeMap<String, Level>,
    /// The highest id planned for a write that failed: the write may still
    /// reach the log (a timeout, a lost connection after the broker stored
    /// it), so no other schema ever gets that id.
    burned: i32,
}

/// What a registration comes to.
#[derive(Debug)]
pub enum Plan {
    /// The subject already has this schema: its id, nothing to write.
    Existing(i32),
    /// A new version: the id it gets and the record to write.
    New(i32, Encoded),
}

impl State {
    /// Applies one `_schemas` record (value None or empty: a tombstone).
    /// A record that does not parse is skipped with a warning.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let key: Key = match serde_json::from_slice(key) {
            Ok(k) => k,
            Err(e) => {
                log::warn!("_schemas: skipping a record with an unknown key ({e})");
                return;
            }
        };
        let value = value.filter(|v| !v.is_empty());
        if let Err(e) = self.apply_key(key, value) {
            log::warn!("_schemas: skipping a record with a bad value ({e})");
        }
    }

    fn apply_key(&mut self, key: Key, value: Option<&[u8]>) -> Result<(), ApplyError> {
        match (key, value) {
            (
                Key::Schema {
                    subject, version, ..
                },
                None,
            ) => {
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    vs.remove(&version);
                }
            }
            (Key::Schema { .. }, Some(v)) => {
                let v: SchemaValue = serde_json::from_slice(v)?;
                let kind = SchemaType::parse(v.schema_type.as_deref())?;
                if !self.schemas.contains_key(&v.id) {
                    let deps = self.resolve(&v.references)?;
                    let parsed = compat::parse(kind, &v.schema, v.references.clone(), deps)?;
                    self.ids.insert((kind, parsed.identity()), v.id);
                    self.schemas.insert(v.id, Arc::new(parsed));
                }
                let version = Version {
                    id: v.id,
                    deleted: v.deleted,
                };
                self.subjects
                    .entry(v.subject)
                    .or_default()
                    .insert(v.version, version);
            }
            (Key::Config { subject, .. }, value) => {
                let level = match value {
                    Some(v) => {
                        let c: ConfigValue = serde_json::from_slice(v)?;
                        let level = Level::parse(&c.compatibility_level);
                        Some(level.ok_or(ApplyError::Level(c.compatibility_level))?)
                    }
                    None => None,
                };
                match (subject, level) {
                    (None, l) => self.global = l,
                    (Some(s), Some(l)) => {
                        self.levels.insert(s, l);
                    }
                    (Some(s), None) => {
                        self.levels.remove(&s);
                    }
                }
            }
            (Key::DeleteSubject { subject, .. }, Some(v)) => {
                let d: DeleteSubjectValue = serde_json::from_slice(v)?;
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    for (_, ver) in vs.range_mut(..=d.version) {
                        ver.deleted = true;
                    }
                }
            }
            (Key::DeleteSubject { .. } | Key::Noop { .. }, None) | (Key::Noop { .. }, _) => {}
        }
        Ok(())
    }

    /// The files `refs` resolve to: each referenced schema under its import
    /// name, and what it imports in turn.
    pub fn resolve(&self, refs: &[SchemaReference]) -> Result<Vec<Source>, SchemaError> {
        let mut out: Vec<Source> = Vec::new();
        for r in refs {
            let missing = || SchemaError::MissingReference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            };
            let versions = self.subjects.get(&r.subject).ok_or_else(missing)?;
            let found = if r.version == -1 {
                versions.values().rfind(|v| !v.deleted)
            } else {
                versions.get(&r.version)
            };
            let parsed = found
                .and_then(|v| self.schemas.get(&v.id))
                .ok_or_else(missing)?;
            if parsed.kind != SchemaType::Protobuf {
                return Err(SchemaError::ReferenceType(r.name.clone()));
            }
            for s in parsed.sources_as(&r.name) {
                if !out.iter().any(|o| o.name == s.name) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// The schema with global id `id` (deleted versions keep their schema readable).
    pub fn schema(&self, id: i32) -> Option<&Arc<Parsed>> {
        self.schemas.get(&id)
    }

    /// Subjects with at least one live version (all known ones with `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, vs)| vs.values().any(|v| deleted || !v.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// A subject's live versions, oldest first (empty: unknown or all deleted).
    pub fn versions(&self, subject: &str) -> Vec<(i32, Version)> {
        self.subjects.get(subject).map_or_else(Vec::new, |vs| {
            vs.iter()
                .filter(|(_, v)| !v.deleted)
                .map(|(n, v)| (*n, *v))
                .collect()
        })
    }

    /// The global compatibility level (BACKWARD unless set).
    pub fn global_level(&self) -> Level {
        self.global.unwrap_or(Level::Backward)
    }

    /// The level set for `subject`, if one was.
    pub fn subject_level(&self, subject: &str) -> Option<Level> {
        self.levels.get(subject).copied()
    }

    /// The level that applies to `subject`.
    pub fn effective_level(&self, subject: &str) -> Level {
        self.subject_level(subject)
            .unwrap_or_else(|| self.global_level())
    }

    /// The live version of `subject` holding `schema`, if any.
    pub fn find(&self, subject: &str, schema: &Parsed) -> Option<(i32, i32)> {
        let id = *self.ids.get(&(schema.kind, schema.identity()))?;
        self.versions(subject)
            .into_iter()
            .find(|(_, v)| v.id == id)
            .map(|(n, v)| (n, v.id))
    }

    /// Plans registering `schema` under `subject`: the existing id, a new
    /// version (an identical schema anywhere keeps its global id), or the
    /// reasons it is incompatible with the subject's live versions.
    pub fn plan_register(&self, subject: &str, schema: &Parsed) -> Result<Plan, Incompatible> {
        if let Some((_, id)) = self.find(subject, schema) {
            return Ok(Plan::Existing(id));
        }
        let live: Vec<&Parsed> = self
            .versions(subject)
            .iter()
            .filter_map(|(_, v)| self.schemas.get(&v.id).map(|p| p.as_ref()))
            .collect();
        compat::check(self.effective_level(subject), schema, &live)?;
        let id = match self.ids.get(&(schema.kind, schema.identity())) {
            Some(id) => *id,
            None => {
                self.schemas
                    .keys()
                    .next_back()
                    .map_or(0, |m| *m)
                    .max(self.burned)
                    + 1
            }
        };
        let version = self
            .subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back())
            .map_or(1, |m| m + 1);
        let key = Key::Schema {
            subject: subject.to_string(),
            version,
            magic: 1,
        };
        let value = SchemaValue {
            subject: subject.to_string(),
            version,
            id,
            schema_type: (schema.kind != SchemaType::Avro).then(|| schema.kind.name().to_string()),
            schema: schema.canonical.clone(),
            references: schema.references.clone(),
            deleted: false,
        };
        Ok(Plan::New(id, Encoded::new(&key, &value)))
    }

    /// Marks `id` as handed to a write that failed (see `burned`): later
    /// schemas get ids above it. Its own schema may still come to have it.
    pub fn burn(&mut self, id: i32) {
        if !self.schemas.contains_key(&id) {
            self.burned = self.burned.max(id);
        }
    }

    /// Plans a soft deletion of `subject`: its live versions and the records
    /// (each version marked deleted, then DELETE_SUBJECT); None if it has none.
    pub fn plan_delete(&self, subject: &str) -> Option<(Vec<i32>, Vec<Encoded>)> {
        let live = self.versions(subject);
        let last = live.last()?.0;
        let mut records = Vec::new();
        for (n, v) in &live {
            let schema = self.schemas.get(&v.id)?;
            let key = Key::Schema {
                subject: subject.to_string(),
                version: *n,
                magic: 1,
            };
            let value = SchemaValue {
                subject: subject.to_string(),
                version: *n,
                id: v.id,
                schema_type: (schema.kind != SchemaType::Avro)
                    .then(|| schema.kind.name().to_string()),
                schema: schema.canonical.clone(),
                references: schema.references.clone(),
                deleted: true,
            };
            records.push(Encoded::new(&key, &value));
        }
        let key = Key::DeleteSubject {
            subject: subject.to_string(),
            magic: 0,
        };
        let value = DeleteSubjectValue {
            subject: subject.to_string(),
            version: last,
        };
        records.push(Encoded::new(&key, &value));
        Some((live.iter().map(|(n, _)| *n).collect(), records))
    }
}

/// Why a `_schemas` record was skipped on replay.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Its value is not the JSON of its key type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Its schema does not parse (or its references do not resolve).
    #[error("{0}")]
    Schema(#[from] SchemaError),
    /// A level no registry knows.
    #[error("unknown compatibility level {0}")]
    Level(String),
}

/// The record that sets `subject`'s level (None: the global one).
pub fn config_record(subject: Option<&str>, level: Level) -> Encoded {
    let key = Key::Config {
        subject: subject.map(str::to_string),
        magic: 0,
    };
    let value = ConfigValue {
        compatibility_level: level.to_string(),
    };
    Encoded::new(&key, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(state: &mut State, subject: &str, text: &str) -> Result<i32, Incompatible> {
        let p = compat::parse(SchemaType::Avro, text, vec![], vec![]).unwrap();
        match state.plan_register(subject, &p)? {
            Plan::Existing(id) => Ok(id),
            Plan::New(id, rec) => {
                state.apply(&rec.key, rec.value.as_deref());
                Ok(id)
            }
        }
    }

    #[test]
    fn an_id_planned_for_a_failed_write_is_never_given_to_another_schema() {
        let mut s = State::default();
        assert_eq!(register(&mut s, "a", "\"int\""), Ok(1));
        let p = compat::parse(SchemaType::Avro, "\"long\"", vec![], vec![]).unwrap();
        let Ok(Plan::New(id, _lost)) = s.plan_register("a", &p) else {
            panic!("a new version expected");
        };
        assert_eq!(id, 2);
        s.burn(id);
        // "long" itself and any other schema get a fresh id.
        assert_eq!(register(&mut s, "b", "\"string\""), Ok(3));
        assert_eq!(register(&mut s, "a", "\"long\""), Ok(4));
        // Burning a stored id changes nothing.
        s.burn(1);
        assert_eq!(register(&mut s, "c", "\"boolean\""), Ok(5));
    }

    #[test]
    fn ids_are_global_versions_per_subject() {
        let mut s = State::default();
        assert_eq!(register(&mut s, "a", "\"int\""), Ok(1));
        assert_eq!(register(&mut s, "a", " \"int\" "), Ok(1));
        assert_eq!(register(&mut s, "b", "\"int\""), Ok(1));
        assert_eq!(s.versions("b").len(), 1);
        // int -> long is backward compatible (long reads int).
        assert_eq!(register(&mut s, "a", "\"long\""), Ok(2));
        assert_eq!(
            s.versions("a").iter().map(|v| v.0).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(register(&mut s, "a", "\"string\"").is_err());
        let (versions, records) = s.plan_delete("a").unwrap();
        assert_eq!(versions, [1, 2]);
        for r in &records {
            s.apply(&r.key, r.value.as_deref());
        }
        assert_eq!(s.subjects(false), ["b"]);
        assert_eq!(s.subjects(true), ["a", "b"]);
        assert!(s.schema(2).is_some());
        // After a deletion the subject starts over with the next version number.
        assert_eq!(register(&mut s, "a", "\"string\""), Ok(3));
        assert_eq!(s.versions("a")[0].0, 3);
        s.apply(b"not json", None);
        s.apply(
            br#"{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}"#,
            Some(b"{"),
        );
    }

    #[test]
    fn a_bad_record_is_refused_by_kind() {
        let mut s = State::default();
        let schema = || Key::Schema {
            subject: "x".into(),
            version: 1,
            magic: 1,
        };
        let config = Key::Config {
            subject: None,
            magic: 0,
        };
        assert!(matches!(
            s.apply_key(schema(), Some(b"{")),
            Err(ApplyError::Json(_))
        ));
        let bad_schema = br#"{"subject":"x","version":1,"id":1,"schema":"{"}"#;
        assert!(matches!(
            s.apply_key(schema(), Some(bad_schema)),
            Err(ApplyError::Schema(_))
        ));
        assert!(matches!(
            s.apply_key(
                config.clone(),
                Some(br#"{"compatibilityLevel":"SOMETIMES"}"#)
            ),
            Err(ApplyError::Level(_))
        ));
        assert!(s
            .apply_key(config, Some(br#"{"compatibilityLevel":"NONE"}"#))
            .is_ok());
    }
}
