//! Kafka's rule for topic names, shared by the broker (CreateTopics,
//! Metadata, its data directory) and the command line (`--topic`, names
//! given to `braid topic` and `braid registry`).

/// Why a topic name breaks Kafka's rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    /// Empty, or longer than 249 characters.
    #[error("topic name '{0}' must be 1 to 249 characters")]
    Length(String),
    /// `.` or `..`.
    #[error("topic name '{0}' is not allowed")]
    Reserved(String),
    /// A character other than `[a-zA-Z0-9._-]`.
    #[error("topic name '{name}' has '{c}'; use letters, digits, '.', '_' and '-'")]
    Character {
        /// The name.
        name: String,
        /// The first character not allowed.
        c: char,
    },
}

/// Kafka's rule for topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() || name.len() > 249 {
        return Err(TopicNameError::Length(name.to_string()));
    }
    if name == "." || name == ".." {
        return Err(TopicNameError::Reserved(name.to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TopicNameError::Character {
            name: name.to_string(),
            c,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_rule() {
        assert_eq!(validate("events_1.v-2"), Ok(()));
        assert!(matches!(validate(""), Err(TopicNameError::Length(_))));
        assert!(matches!(
            validate(&"x".repeat(250)),
            Err(TopicNameError::Length(_))
        ));
        assert!(validate(&"x".repeat(249)).is_ok());
        assert!(matches!(validate(".."), Err(TopicNameError::Reserved(_))));
        assert_eq!(
            validate("a/b"),
            Err(TopicNameError::Character {
                name: "a/b".into(),
                c: '/'
            })
        );
        assert_eq!(
            validate("a b").unwrap_err().to_string(),
            "topic name 'a b' has ' '; use letters, digits, '.', '_' and '-'"
        );
    }
}
