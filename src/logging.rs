//! Logging set-up: `env_logger`, driven by `RUST_LOG` (default `warn`).

/// Starts `env_logger` once; later calls do nothing.
pub fn init() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .try_init();
}
