//! The accept loop the embedded broker and the schema registry share: one
//! thread per connection, at most `max_connections` at once (more are
//! closed at accept), a stop flag looked at every [`ACCEPT_POLL`] while
//! nobody connects, and on a stop a bounded wait for the connections still
//! serving. What a connection does is the caller's.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::shutdown::Stop;

/// How often the accept loop looks at the stop flag when nobody connects.
pub const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Accepts connections on `listener` until `stop` is raised and serves each
/// on its own thread (`{name}-{n}`) with `serve(stream, peer, n)`; then
/// closes the listener and returns the connection threads not yet ended.
pub fn accept_until_stopped<F>(
    listener: TcpListener,
    stop: &Stop,
    max_connections: usize,
    name: &str,
    serve: F,
) -> io::Result<Vec<JoinHandle<()>>>
where
    F: Fn(TcpStream, SocketAddr, u64) + Send + Sync + 'static,
{
    listener.set_nonblocking(true)?;
    let serve = Arc::new(serve);
    let active = Arc::new(AtomicUsize::new(0));
    let mut handles: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !stop.requested() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if active.load(Ordering::SeqCst) >= max_connections {
                    log::warn!(
                        "refusing connection from {peer}: {max_connections} connections already (--max-connections)"
                    );
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                next_id += 1;
                handles.retain(|h| !h.is_finished());
                let (id, serve) = (next_id, serve.clone());
                let counted = Counted::new(&active);
                let spawned = std::thread::Builder::new()
                    .name(format!("{name}-{id}"))
                    .spawn(move || {
                        let _counted = counted;
                        if stream.set_nonblocking(false).is_ok() {
                            let _ = stream.set_nodelay(true);
                            serve(stream, peer, id);
                        }
                    });
                match spawned {
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
    handles.retain(|h| !h.is_finished());
    Ok(handles)
}

/// Waits for the connection threads to end, up to `grace`; those still
/// busy then are named in a warning and left to end with the process.
pub fn wait_for(handles: Vec<JoinHandle<()>>, grace: Duration) {
    let deadline = Instant::now() + grace;
    while handles.iter().any(|h| !h.is_finished()) {
        if Instant::now() >= deadline {
            let stuck = handles.iter().filter(|h| !h.is_finished()).count();
            log::warn!(
                "{stuck} connections still busy {grace:?} after the stop; exiting without them"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for h in handles {
        let _ = h.join();
    }
}

/// One connection counted as active for as long as it lives (also when its
/// thread panics, or was never started).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(active: &Arc<AtomicUsize>) -> Counted {
        active.fetch_add(1, Ordering::SeqCst);
        Counted(active.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
