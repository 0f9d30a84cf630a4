//! Kafka's rule for topic names, shared by the broker (CreateTopics,
//! Metadata, its data directory) and the command line (`--topic`, names
//! given to `braid topic` and `braid registry`).

/// Kafka's rule for topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!("topic name '{name}' must be 1 to 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(format!("topic name '{name}' is not allowed"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name '{name}' has '{c}'; use letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}
