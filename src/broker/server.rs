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
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{connection, Broker};
use crate::shutdown::Stop;

/// How long a stopping broker waits for a handler that does not finish before it exits anyway.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the stop flag when no client is connecting.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Serves clients until `stop` is raised, then stops accepting, lets requests
/// in flight finish, closes every connection, and returns.
pub fn serve(broker: Arc<Broker>, listener: TcpListener, stop: &Stop) -> Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    let mut next_id = 0u64;
    while !stop.requested() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if active.load(Ordering::SeqCst) >= broker.config.max_connections {
                    log::warn!(
                        "refusing connection from {peer}: {} connections already (--max-connections)",
                        broker.config.max_connections
                    );
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                next_id += 1;
                handles.retain(|h: &JoinHandle<()>| !h.is_finished());
                match spawn(&broker, &active, stream, peer, next_id) {
                    Ok(h) => handles.push(h),
                    Err(e) => log::error!("cannot start a connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stop.wait_timeout(ACCEPT_POLL);
            }
            Err(e) => {
                log::warn!("accept failed: {e}");
                stop.wait_timeout(ACCEPT_POLL);
            }
        }
    }
    drop(listener);
    broker.begin_stop();
    log::info!(
        "stopping: no new connections; finishing the {} in flight",
        active.load(Ordering::SeqCst)
    );
    finish(handles);
    log::info!("stopped");
    Ok(())
}

/// Starts the thread that serves one accepted connection.
fn spawn(
    broker: &Arc<Broker>,
    active: &Arc<AtomicUsize>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
) -> io::Result<JoinHandle<()>> {
    stream.set_nonblocking(false)?;
    let _ = stream.set_nodelay(true);
    let broker = broker.clone();
    let counted = active.clone();
    active.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name(format!("conn-{id}"))
        .spawn(move || {
            log::debug!("connection {id} from {peer}");
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                connection::serve(&broker, stream)
            }));
            match outcome {
                Ok(Ok(())) => log::debug!("connection {id} from {peer} closed"),
                Ok(Err(e)) => log::info!("connection {id} from {peer} closed: {e}"),
                Err(_) => {
                    log::error!("connection {id} from {peer}: handler panicked; connection closed")
                }
            }
            counted.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        active.fetch_sub(1, Ordering::SeqCst);
    }
    spawned
}

/// Waits for every connection thread to end, up to [`STOP_GRACE`].
fn finish(handles: Vec<JoinHandle<()>>) {
    let deadline = Instant::now() + STOP_GRACE;
    while handles.iter().any(|h| !h.is_finished()) {
        if Instant::now() >= deadline {
            let stuck = handles.iter().filter(|h| !h.is_finished()).count();
            log::warn!("{stuck} connections still busy {STOP_GRACE:?} after the stop; exiting without them");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for h in handles {
        let _ = h.join();
    }
}
