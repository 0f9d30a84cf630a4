//! Accepting connections, one thread each, and stopping them on Ctrl+C.
//!
//! A connection serves requests until the client closes it, asks for
//! `Connection: close`, sends something malformed (answered with a 4xx,
//! then closed) or the registry stops. A handler that panicked would answer
//! 500 and close only its connection.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{Conn, ReadError, Response};
use super::routes::Registry;
use crate::shutdown::Stop;

/// How often the accept loop looks at the stop flag when nobody connects.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// How long a stopping registry waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
}

/// Serves until `stop` is raised, then closes the listener and waits for
/// the connections to finish the request in hand.
pub fn serve(
    registry: Arc<Registry>,
    listener: TcpListener,
    limits: Limits,
    stop: &Stop,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    let mut handles: Vec<JoinHandle<()>> = Vec::new();
    while !stop.requested() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if active.load(Ordering::SeqCst) >= limits.max_connections {
                    log::warn!("refusing connection from {peer}: too many connections");
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                handles.retain(|h| !h.is_finished());
                let (registry, active, stop) = (registry.clone(), active.clone(), stop.clone());
                active.fetch_add(1, Ordering::SeqCst);
                let spawned = std::thread::Builder::new()
                    .name("registry-conn".into())
                    .spawn(move || {
                        if let Err(e) = connection(&registry, stream, limits, &stop) {
                            log::debug!("connection from {peer} ended: {e}");
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
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
    let deadline = Instant::now() + STOP_GRACE;
    while handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Serves one connection's requests.
fn connection(
    registry: &Registry,
    stream: TcpStream,
    limits: Limits,
    stop: &Stop,
) -> io::Result<()> {
    let mut conn = Conn::new(stream, limits.max_body)?;
    loop {
        match conn.next_request(stop) {
            Ok(req) => {
                let resp = catch_unwind(AssertUnwindSafe(|| registry.handle(&req)));
                let (resp, keep) = match resp {
                    Ok(r) => (r, req.keep_alive && !stop.requested()),
                    Err(_) => {
                        log::error!("a handler panicked on {} {:?}", req.method, req.path);
                        (Response::error(500, 500, "internal error"), false)
                    }
                };
                conn.respond(&resp, keep)?;
                if !keep {
                    return Ok(());
                }
            }
            Err(ReadError::Closed | ReadError::Stopped) => return Ok(()),
            Err(ReadError::Bad(resp)) => return conn.respond(&resp, false),
            Err(ReadError::Io(e)) => return Err(e),
        }
    }
}
