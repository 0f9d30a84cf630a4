//! Accepting connections, one thread each (see `connection`), and stopping
//! them on Ctrl+C.
//!
//! A frame length over the limit (or negative), a request that cannot be
//! decoded, an unknown API key or an unsupported version closes that
//! connection only (ApiVersions answers UNSUPPORTED_VERSION instead, as Kafka
//! does). Nothing a client sends reaches a panic; if a handler panicked
//! anyway, only that connection would close.
//!
//! On a stop the listener closes and every connection thread ends by itself
//! within `connection::POLL` (idle) or `connection::STOP_BOUND` plus a poll
//! (a request arriving, a response the client does not read); a request being
//! handled is finished first. [`STOP_GRACE`] bounds only a handler that is
//! truly stuck.

use anyhow::Result;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::{connection, Broker};
use crate::accept;
use crate::shutdown::Stop;

/// How long a stopping broker waits for a handler that does not finish before it exits anyway.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Serves clients until `stop` is raised, then stops accepting, lets requests
/// in flight finish, closes every connection, and returns.
pub fn serve(broker: Arc<Broker>, listener: TcpListener, stop: &Stop) -> Result<()> {
    let max = broker.config.max_connections;
    let serving = broker.clone();
    let handles =
        accept::accept_until_stopped(listener, stop, max, "conn", move |stream, peer, id| {
            log::debug!("connection {id} from {peer}");
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                connection::serve(&serving, stream)
            }));
            match outcome {
                Ok(Ok(())) => log::debug!("connection {id} from {peer} closed"),
                Ok(Err(e)) => log::info!("connection {id} from {peer} closed: {e}"),
                Err(_) => {
                    log::error!("connection {id} from {peer}: handler panicked; connection closed")
                }
            }
        })?;
    broker.begin_stop();
    log::info!(
        "stopping: no new connections; finishing the {} in flight",
        handles.len()
    );
    accept::wait_for(handles, STOP_GRACE);
    log::info!("stopped");
    Ok(())
}
